//! The `arith` test service, written once for every test that needs a service on a bus: the
//! transports' own suites, the transport conformance suite and the chaos runs. It is written
//! with the hand-written API rather than `#[clamator::service]` because it needs handlers the
//! macro cannot express (a closure that panics before any future exists, a result that fails
//! to serialise) and because the transports' tests cannot depend on the umbrella crate.
//!
//! The cross-language contract (float `arith` and `notifications`, exactly as clamator's interop
//! suite declares them) is a different thing: it lives in `clamator-examples` and is what the
//! examples, the interop suite, the gateway, the CLI and the bench call.
#![forbid(unsafe_code)]

pub mod arith;
#[cfg(feature = "metrics")]
pub mod metrics;
