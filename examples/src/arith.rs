//! The `arith` service: one contract, typed params and results, and a handler set.
//!
//! Field names are the wire names (camelCase, as the TypeScript and Python peers write them).

use std::time::Duration;

use clamator_protocol::{Contract, Error, Method, RpcError, Service};
use serde::{Deserialize, Serialize};

/// Params of `add` and `divide`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

/// Params of `slowAdd`: `add` after sleeping `sleepMs` milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlowAddParams {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
    /// How long the handler sleeps before answering.
    pub sleep_ms: u64,
}

/// Result of `add` and `slowAdd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SumResult {
    /// `a + b`.
    pub sum: f64,
}

/// Result of `divide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivideResult {
    /// `a / b`.
    pub q: f64,
}

/// Params and result of `echoText`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// The text, echoed unchanged.
    pub text: String,
}

/// `arith.add`: a + b.
pub const ADD: Method<AddParams, SumResult> = Method::new("arith", "add");
/// `arith.slowAdd`: a + b after a sleep.
pub const SLOW_ADD: Method<SlowAddParams, SumResult> = Method::new("arith", "slowAdd");
/// `arith.divide`: a / b, or `-32000 division by zero`.
pub const DIVIDE: Method<AddParams, DivideResult> = Method::new("arith", "divide");
/// `arith.echoText`: returns its text.
pub const ECHO_TEXT: Method<Text, Text> = Method::new("arith", "echoText");

/// The application error code the interop suite uses for `divide` by zero.
pub const DIVISION_BY_ZERO: i64 = -32000;

/// The `arith` contract.
pub fn contract() -> Result<Contract, Error> {
    Contract::builder("arith")
        .method(ADD)
        .method(SLOW_ADD)
        .method(DIVIDE)
        .method(ECHO_TEXT)
        .build()
}

/// The `arith` contract with the interop suite's handler behaviour.
pub fn service() -> Result<Service, Error> {
    Service::builder(contract()?)
        .handle(ADD, |p: AddParams| async move {
            Ok::<_, RpcError>(SumResult { sum: p.a + p.b })
        })
        .handle(SLOW_ADD, |p: SlowAddParams| async move {
            tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
            Ok::<_, RpcError>(SumResult { sum: p.a + p.b })
        })
        .handle(DIVIDE, |p: AddParams| async move {
            if p.b == 0.0 {
                return Err(RpcError::new(DIVISION_BY_ZERO, "division by zero"));
            }
            Ok(DivideResult { q: p.a / p.b })
        })
        .handle(ECHO_TEXT, |p: Text| async move { Ok::<_, RpcError>(p) })
        .build()
}
