//! The `conf` test service: one method per behaviour the suite checks, written with the
//! hand-written API (a panicking closure body cannot be written with the trait macro).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator::{Contract, HandlerError, Method, NotificationMethod, RpcError, Service};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Params of `add` and `divide`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// Left operand.
    pub a: i64,
    /// Right operand.
    pub b: i64,
}

/// Result of `add` and `divide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Value {
    /// The result.
    pub v: i64,
}

/// Params of `sleep`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sleep {
    /// How long the handler waits.
    pub ms: u64,
}

/// Params without fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Empty {}

/// `a + b`.
pub const ADD: Method<Pair, Value> = Method::new("conf", "add");
/// `a / b`; `b = 0` is application error -32000.
pub const DIVIDE: Method<Pair, Value> = Method::new("conf", "divide");
/// Sleeps, then answers 0.
pub const SLEEP: Method<Sleep, Value> = Method::new("conf", "sleep");
/// Fails with a non-RPC error (-32603 with name and message).
pub const FAIL: Method<Empty, Value> = Method::new("conf", "fail");
/// Panics inside its future.
pub const PANIC_IN_FUTURE: Method<Empty, Value> = Method::new("conf", "panicInFuture");
/// Panics in the closure body, before any future exists.
pub const PANIC_IN_CLOSURE: Method<Empty, Value> = Method::new("conf", "panicInClosure");
/// Declared but given no handler (-32601 after params validation).
pub const UNHANDLED: Method<Empty, Value> = Method::new("conf", "unhandled");
/// A notification the test can await.
pub const PING: NotificationMethod<Empty> = NotificationMethod::new("conf", "ping");

/// What the handlers let a test observe.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Pings received.
    pub pings: Arc<AtomicUsize>,
    /// Woken at every ping.
    pub pinged: Arc<Notify>,
}

/// An error type of the application's own.
#[derive(Debug)]
pub struct DiskError;

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for DiskError {}

/// The contract and its handlers.
pub fn service(probe: Probe) -> Service {
    let contract = Contract::builder("conf")
        .method(ADD)
        .method(DIVIDE)
        .method(SLEEP)
        .method(FAIL)
        .method(PANIC_IN_FUTURE)
        .method(PANIC_IN_CLOSURE)
        .method(UNHANDLED)
        .notification(PING)
        .build()
        .expect("valid contract");
    Service::builder(contract)
        .handle(ADD, |p: Pair| async move {
            Ok::<_, RpcError>(Value { v: p.a + p.b })
        })
        .handle(DIVIDE, |p: Pair| async move {
            if p.b == 0 {
                return Err(RpcError::new(-32000, "division by zero"));
            }
            Ok(Value { v: p.a / p.b })
        })
        .handle(SLEEP, |p: Sleep| async move {
            tokio::time::sleep(Duration::from_millis(p.ms)).await;
            Ok::<_, RpcError>(Value { v: 0 })
        })
        .handle(FAIL, |_: Empty| async move {
            Err::<Value, HandlerError>(DiskError.into())
        })
        .handle(PANIC_IN_FUTURE, |_: Empty| async move {
            if true {
                panic!("boom in the future");
            }
            Ok::<_, RpcError>(Value { v: 0 })
        })
        .handle(PANIC_IN_CLOSURE, |_: Empty| {
            if true {
                panic!("boom in the closure");
            }
            async move { Ok::<_, RpcError>(Value { v: 0 }) }
        })
        .on_notification(PING, move |_: Empty| {
            let probe = probe.clone();
            async move {
                probe.pings.fetch_add(1, Ordering::SeqCst);
                probe.pinged.notify_waiters();
            }
        })
        .build()
        .expect("handlers match the contract")
}
