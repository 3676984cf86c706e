//! Transport-agnostic core of the clamator JSON-RPC 2.0 bus, wire-identical to clamator 0.1.9
//! (Python and TypeScript).
//!
//! * [`envelope`]: request, notification and response envelopes; the spec §1.4 classifier. A
//!   lone UTF-16 surrogate escape (`"\ud800"`, valid JSON the peers echo) is read as U+FFFD
//!   instead of losing the envelope ([`envelope::parse_value_lenient`]).
//! * [`contract`]: typed method descriptors and contracts, declared once for both sides.
//! * [`handler`]: a [`Service`] is a contract plus async handlers.
//! * [`dispatcher`]: the validation pipeline (params → handler → result → response).
//! * [`RpcServerCore`] / [`RpcClientCore`]: lifecycle ([`State`]) and calls over a [`transport`].
//! * [`error`]: [`RpcError`] (on the wire), [`ProtocolError`], [`TransportError`].
//!
//! * [`telemetry`]: client and server spans (and, with `otel`, W3C trace context).
//! * `metrics` (feature `metrics`): counters, histograms and gauges through the `metrics`
//!   facade, with bounded labels; the names every crate records are in `metrics::names`.
//!
//! This crate does no I/O; transports live in `clamator-over-memory` and `clamator-over-redis`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod client;
pub mod contract;
pub mod dispatcher;
pub mod envelope;
pub mod error;
pub mod handler;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod names;
pub mod omit_none;
pub mod presence;
pub mod replies;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod transport;
pub mod validation;

pub use client::{RpcClientCore, DEFAULT_CALL_TIMEOUT};
pub use contract::{Contract, ContractBuilder, Method, MethodDef, MethodKind, NotificationMethod};
pub use dispatcher::{Dispatcher, InFlight};
pub use envelope::{Envelope, Id, Notification, Request, Response};
pub use error::{
    codes, BoxError, Error, InvalidReason, InvalidRequest, ProtocolError, RpcError, TransportError,
};
pub use handler::{HandlerError, NotificationOutput, Service, ServiceBuilder};
pub use presence::{Discovery, Instance, Liveness, MethodInfo};
pub use replies::{Replies, SendMark};
pub use server::{RpcServerCore, DEFAULT_STOP_GRACE};
pub use state::State;
pub use transport::{ClientTransport, DynClientTransport, ServerTransport};
