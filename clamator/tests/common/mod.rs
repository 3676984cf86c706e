//! The interop suite's `arith` and `notifications` contracts (spec §8.2), written here a second
//! time on purpose: this is the macro's own fixture. It uses what the shared definition in
//! `clamator-examples` does not (a crate-private trait, `#[clamator(rename)]`, a result type of
//! another name with the same schema), and `tests/manifest.rs` proves both hash alike.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator::{HandlerError, JsonSchema, RpcError};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Params of `add` and `divide`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(deny_unknown_fields)]
pub(crate) struct AddParams {
    /// Left operand (doc comments are not part of the schema hash).
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "camelCase")]
pub(crate) struct SlowAddParams {
    pub a: f64,
    pub b: f64,
    pub sleep_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct SumResult {
    pub sum: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct DivideResult {
    pub q: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct Text {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct PingParams {
    pub tag: Option<String>,
}

/// The `arith` service of the interop suite.
#[clamator::service(name = "arith")]
pub(crate) trait Arith {
    /// a + b.
    async fn add(&self, params: AddParams) -> Result<SumResult, HandlerError>;
    /// a / b, or `-32000 division by zero`.
    async fn divide(&self, params: AddParams) -> Result<DivideResult, RpcError>;
    /// Echoes its text.
    async fn echo_text(&self, params: Text) -> Result<Text, HandlerError>;
    /// a + b after `sleepMs`.
    #[clamator(rename = "slowAdd")]
    async fn slow(&self, params: SlowAddParams) -> Result<SumResult, HandlerError>;
}

/// The `notifications` service of the interop suite.
#[clamator::service(name = "notifications")]
pub(crate) trait Notifications {
    /// Counted by the server, never answered.
    #[clamator(notification)]
    async fn ping(&self, params: PingParams);
}

/// The driver behaviour of spec §8.2.
pub(crate) struct Calculator;

impl Arith for Calculator {
    async fn add(&self, p: AddParams) -> Result<SumResult, HandlerError> {
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn divide(&self, p: AddParams) -> Result<DivideResult, RpcError> {
        if p.b == 0.0 {
            return Err(RpcError::new(-32000, "division by zero"));
        }
        Ok(DivideResult { q: p.a / p.b })
    }

    async fn echo_text(&self, p: Text) -> Result<Text, HandlerError> {
        Ok(p)
    }

    async fn slow(&self, p: SlowAddParams) -> Result<SumResult, HandlerError> {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        Ok(SumResult { sum: p.a + p.b })
    }
}

/// Counts pings and remembers their tags.
#[derive(Default)]
pub(crate) struct PingCounter {
    pub count: AtomicUsize,
    pub tags: std::sync::Mutex<Vec<Option<String>>>,
    pub notify: Notify,
}

impl Notifications for Arc<PingCounter> {
    async fn ping(&self, p: PingParams) {
        self.tags.lock().unwrap().push(p.tag);
        self.count.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
    }
}
