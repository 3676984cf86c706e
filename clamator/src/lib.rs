//! clamator for Rust: a JSON-RPC 2.0 bus, wire-identical to clamator 0.1.9 (TypeScript and
//! Python), with typed services derived from one trait.
//!
//! One dependency gives the macro, the protocol and the transports: `memory` (default,
//! [`memory`]) and `redis` (`clamator::redis`, feature `redis`). Feature `anyhow`: handlers
//! returning `anyhow::Result` answer `-32603` with the error's whole context chain and its root
//! cause's type as `name` (without it they compile too, with the outermost context only).
//! Feature `metrics`: every transport records calls, requests, durations and the Redis
//! transport's recovery events through the `metrics` facade (`clamator::metrics`, with the
//! metric names as constants in `metrics::names`); install any recorder to export them.
//!
//! Without the macro the same service is a few constants, a
//! [`Contract`] and a [`Service`] built by hand (see [`contract`] and [`handler`]); both styles
//! produce the same values and interoperate.
//!
//! # Crate map
//!
//! * [`service`]: the attribute macro.
//! * The protocol (everything at the root, from `clamator-protocol`): [`Method`],
//!   [`Contract`], [`Service`], [`RpcClientCore`], [`RpcServerCore`], errors.
//! * [`schema`] and [`manifest`]: JSON Schema hashes comparable with the TypeScript codegen.
//! * [`AsClientCore`], [`ServiceContract`]: what generated code is generic over.
//! * [`data`]: the derives of params and result types; [`serde`], [`schemars`] re-exported
//!   behind it.
//!
//! The crate README follows; its examples run as doctests.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// Lets this crate's own tests use the macro, whose output names `::clamator`.
extern crate self as clamator;

#[doc(inline)]
pub use clamator_protocol::*;

mod any_client;
pub mod manifest;
pub mod schema;
mod typed;

pub use any_client::AnyClient;
pub use manifest::{Manifest, ManifestEntry};
pub use typed::{AsClientCore, ServiceContract};

/// Adds the derives a params or result type needs (`Serialize`, `Deserialize`, [`JsonSchema`])
/// through clamator's re-exports, so a crate depending only on `clamator` writes no
/// `serde`/`schemars` dependency or crate-path attribute.
///
/// ```
/// #[clamator::data]
/// #[derive(Debug, Clone, PartialEq)]
/// #[serde(rename_all = "camelCase")]   // serde and schemars attributes work as usual
/// pub struct Reading { pub sensor_id: String, pub value: Option<f64> }
///
/// let r: Reading = serde_json::from_str(r#"{"sensorId":"t1"}"#).unwrap();
/// assert_eq!(r, Reading { sensor_id: "t1".into(), value: None });
/// ```
///
/// Deriving `JsonSchema` by hand instead needs `schemars` (1.x) as a direct dependency or
/// `#[schemars(crate = "clamator::schemars")]` on the type. Argument: `crate = <path>` when
/// `clamator` is renamed.
#[doc(inline)]
pub use clamator_macros::data;

/// Derive target of params and result types, for the [`schema`] hashes.
pub use schemars::JsonSchema;

/// Re-exported so params types can use `#[schemars(crate = "clamator::schemars")]`.
pub use schemars;

/// Re-exported so params types can use `#[serde(crate = "clamator::serde")]`.
pub use serde;

/// The in-process transport (`clamator-over-memory`), the embedded default.
#[cfg(feature = "memory")]
pub use clamator_over_memory as memory;

/// The Redis Streams transport (`clamator-over-redis`).
#[cfg(feature = "redis")]
pub use clamator_over_redis as redis;

/// Derives a clamator service from a trait: the one place a service's methods are written.
///
/// ```text
/// #[clamator::service(name = "<service>")]          // `crate = path` if clamator is renamed
/// pub trait Arith {
///     async fn add(&self, params: P) -> Result<R, E>;            // wire "add"
///     async fn echo_text(&self, params: P) -> Result<R, E>;      // wire "echoText"
///     #[clamator(rename = "slowAdd")]
///     async fn slow(&self, params: P) -> Result<R, E>;           // wire "slowAdd"
///     #[clamator(notification)]
///     async fn ping(&self, params: P);                           // or -> Result<(), E>
/// }
/// ```
///
/// Every method takes `&self` and one owned params type, and is an `async fn`. Requests return
/// `Result<R, E>` with any `E: Into<HandlerError>` ([`RpcError`] reaches the caller as is, other
/// errors become `-32603`). Params and results implement `Serialize`, `DeserializeOwned` and
/// [`JsonSchema`]. The Rust name maps to the wire name `snake_case` → `camelCase`; use `rename`
/// for anything else. Service and wire names follow spec §1.3 (`^[a-z][a-z0-9-]*$`,
/// `^[a-z][a-zA-Z0-9]*$`); a bad name, a duplicate wire name, a default body or a
/// wrong signature is a compile error pointing at the offending tokens.
///
/// # What it generates (for `trait Arith`)
///
/// * **`trait Arith`**, rewritten: each `async fn m(&self, p: P) -> O` becomes
///   `fn m(&self, p: P) -> impl Future<Output = O> + Send`. Implementors still write
///   `async fn`; the futures must be `Send` so servers can spawn them.
/// * **`struct ArithContract`** (unit struct), with
///   * `SERVICE_NAME: &str` and one constant per method, named after the Rust method in
///     upper case: `ADD: Method<P, R>`, `PING: NotificationMethod<P>`, `SLOW` (for the renamed
///     `slow`), usable with the hand-written API ([`RpcClientCore::call`] etc.);
///   * `contract() -> Contract`;
///   * `service(impl Arith + Send + Sync + 'static) -> Service` (the implementation is shared
///     in an `Arc`) and `service_from_arc(Arc<S>) -> Service`;
///   * `manifest_entries() -> Result<Vec<ManifestEntry>, SchemaError>`;
///   * an impl of [`ServiceContract`].
/// * **`struct ArithClient<C>`**, `C:` [`AsClientCore`] (an `RpcClientCore<T>` such as
///   `MemoryRpcClient` or `RedisRpcClient`, `&`, `Arc` or `Box` of one, or an [`AnyClient`]):
///   `new(C)`, `core()`,
///   `into_core()`, and per method `add(&self, &P) -> Result<R, Error>`,
///   `add_with_timeout(&self, &P, Duration)`, and for notifications
///   `ping(&self, &P) -> Result<(), Error>`.
///
/// The names `new`, `core`, `into_core`, `service_name` and `<m>_with_timeout` are reserved
/// for the generated items; `rename` keeps any wire name with another Rust name.
#[doc(inline)]
pub use clamator_macros::service;
