//! `arith` and `notifications`, exactly as clamator's interop contracts declare them (spec
//! §8.2), written once with the `service` macro. Their JSON Schemas hash to the values the
//! TypeScript codegen computes (spec §8.4; checked in `tests/manifest.rs`).

use clamator::{HandlerError, JsonSchema, RpcError};
use serde::{Deserialize, Serialize};

/// Params of `arith.add` and `arith.divide`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// Params of `arith.slowAdd`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "camelCase")]
pub struct SlowAddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
    /// Milliseconds the handler sleeps first (an integer ≥ 0).
    pub sleep_ms: u64,
}

/// Result of `add` and `slowAdd`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct SumResult {
    /// `a + b`.
    pub sum: f64,
}

/// Result of `divide`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct QuotientResult {
    /// `a / b`.
    pub q: f64,
}

/// Params and result of `echoText`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct Text {
    /// Echoed unchanged.
    pub text: String,
}

/// Params of `notifications.ping`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct PingParams {
    /// Optional tag; omitted when `None`.
    pub tag: Option<String>,
}

/// The `arith` service.
#[clamator::service(name = "arith")]
pub trait Arith {
    /// `arith.add`: a + b.
    async fn add(&self, params: AddParams) -> Result<SumResult, HandlerError>;
    /// `arith.divide`: a / b, or `-32000 division by zero`.
    async fn divide(&self, params: AddParams) -> Result<QuotientResult, RpcError>;
    /// `arith.echoText`: its text back.
    async fn echo_text(&self, params: Text) -> Result<Text, HandlerError>;
    /// `arith.slowAdd`: a + b after `sleepMs`.
    async fn slow_add(&self, params: SlowAddParams) -> Result<SumResult, HandlerError>;
}

/// The `notifications` service.
#[clamator::service(name = "notifications")]
pub trait Notifications {
    /// `notifications.ping`: counted, never answered.
    #[clamator(notification)]
    async fn ping(&self, params: PingParams);
}
