//! The `arith` service, declared once as a trait: the macro derives the contract
//! ([`ArithContract`]), the typed client ([`ArithClient`]) and the server interface (the trait
//! itself, implemented here by [`Calculator`]).
//!
//! Field names are the wire names (camelCase, as the TypeScript and Python peers write them).
//!
//! These are exactly the `arith` and `notifications` contracts of clamator's interop suite
//! (spec §8.2): the interop suite, the gateway, the CLI and the bench use this one definition,
//! and `interop/tests/manifest.rs` checks that its schemas hash to the TypeScript codegen's.
//! Like the peers' models, params ignore unknown fields.

use std::time::Duration;

use clamator::{HandlerError, JsonSchema, RpcError};
use serde::{Deserialize, Serialize};

/// Params of `add` and `divide`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// Params of `slowAdd`: `add` after sleeping `sleepMs` milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "camelCase")]
pub struct SlowAddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
    /// How long the handler sleeps before answering.
    pub sleep_ms: u64,
}

/// Result of `add` and `slowAdd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct SumResult {
    /// `a + b`.
    pub sum: f64,
}

/// Result of `divide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct QuotientResult {
    /// `a / b`.
    pub q: f64,
}

/// Params and result of `echoText`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct Text {
    /// The text, echoed unchanged.
    pub text: String,
}

/// The application error code the interop suite uses for `divide` by zero.
pub const DIVISION_BY_ZERO: i64 = -32000;

/// Params of `notifications.ping`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct PingParams {
    /// Optional tag; omitted when `None`.
    pub tag: Option<String>,
}

/// The `arith` service (wire names in comments).
#[clamator::service(name = "arith")]
pub trait Arith {
    /// `arith.add`: a + b.
    async fn add(&self, params: AddParams) -> Result<SumResult, HandlerError>;
    /// `arith.divide`: a / b, or `-32000 division by zero`.
    async fn divide(&self, params: AddParams) -> Result<QuotientResult, RpcError>;
    /// `arith.echoText`: returns its text.
    async fn echo_text(&self, params: Text) -> Result<Text, HandlerError>;
    /// `arith.slowAdd`: a + b after a sleep.
    async fn slow_add(&self, params: SlowAddParams) -> Result<SumResult, HandlerError>;
}

/// The `notifications` service: one notification, never answered.
#[clamator::service(name = "notifications")]
pub trait Notifications {
    /// `notifications.ping`.
    #[clamator(notification)]
    async fn ping(&self, params: PingParams);
}

/// The interop suite's handler behaviour for `arith`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Calculator;

impl Arith for Calculator {
    async fn add(&self, p: AddParams) -> Result<SumResult, HandlerError> {
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn slow_add(&self, p: SlowAddParams) -> Result<SumResult, HandlerError> {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn divide(&self, p: AddParams) -> Result<QuotientResult, RpcError> {
        if p.b == 0.0 {
            return Err(RpcError::new(DIVISION_BY_ZERO, "division by zero"));
        }
        Ok(QuotientResult { q: p.a / p.b })
    }

    async fn echo_text(&self, p: Text) -> Result<Text, HandlerError> {
        Ok(p)
    }
}
