//! `arith` and `notifications`, exactly as clamator's interop contracts declare them.

use serde::{Deserialize, Serialize};

use clamator_protocol::{Contract, Error, Method, NotificationMethod};

/// Params of `arith.add` and `arith.divide`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// Params of `arith.slowAdd`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SumResult {
    /// `a + b`.
    pub sum: f64,
}

/// Result of `divide`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuotientResult {
    /// `a / b`.
    pub q: f64,
}

/// Params and result of `echoText`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Text {
    /// Echoed unchanged.
    pub text: String,
}

/// Params of `notifications.ping`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingParams {
    /// Optional tag; omitted when `None`.
    pub tag: Option<String>,
}

/// `arith.add`.
pub const ADD: Method<AddParams, SumResult> = Method::new("arith", "add");
/// `arith.slowAdd`.
pub const SLOW_ADD: Method<SlowAddParams, SumResult> = Method::new("arith", "slowAdd");
/// `arith.divide`.
pub const DIVIDE: Method<AddParams, QuotientResult> = Method::new("arith", "divide");
/// `arith.echoText`.
pub const ECHO_TEXT: Method<Text, Text> = Method::new("arith", "echoText");
/// `notifications.ping`.
pub const PING: NotificationMethod<PingParams> = NotificationMethod::new("notifications", "ping");

/// The `arith` contract.
pub fn arith() -> Result<Contract, Error> {
    Contract::builder("arith")
        .method(ADD)
        .method(DIVIDE)
        .method(ECHO_TEXT)
        .method(SLOW_ADD)
        .build()
}

/// The `notifications` contract.
pub fn notifications() -> Result<Contract, Error> {
    Contract::builder("notifications")
        .notification(PING)
        .build()
}
