//! `arith`: one method per dispatcher outcome (result, application error, -32601 after
//! validation, -32603 from an error and from two kinds of panic, result validation failure),
//! plus a slow method, a gated one, a raw echo and a notification, each observable through a
//! [`Probe`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Contract, HandlerError, Method, NotificationMethod, RpcError, Service};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

/// The service name.
pub const SERVICE: &str = "arith";

/// The application error code of `divide` by zero.
pub const DIVISION_BY_ZERO: i64 = -32000;

/// Params of `add`, `divide` and `gated`; unknown fields are refused (-32602).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddParams {
    /// Left operand.
    pub a: i64,
    /// Right operand.
    pub b: i64,
}

/// Result of the arithmetic methods.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sum {
    /// The result.
    pub sum: i64,
}

/// Params of `slowAdd`: `a + b` after `ms` milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowParams {
    /// Left operand.
    pub a: i64,
    /// Right operand.
    pub b: i64,
    /// How long the handler sleeps first.
    pub ms: u64,
}

/// Params without fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Empty {}

/// Params of the `record` notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    /// Reported to [`Probe::notes`].
    pub text: String,
}

/// A result that cannot be serialized: "Result validation failed".
#[derive(Debug, Deserialize)]
pub struct Unserializable {}

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("not representable"))
    }
}

/// An error type of the application's own (`fail` answers -32603 naming it).
#[derive(Debug)]
pub struct DiskError;

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for DiskError {}

/// `a + b`.
pub const ADD: Method<AddParams, Sum> = Method::new(SERVICE, "add");
/// `a / b`; `b = 0` is application error [`DIVISION_BY_ZERO`].
pub const DIVIDE: Method<AddParams, Sum> = Method::new(SERVICE, "divide");
/// `a + b` after `ms` milliseconds; counted in [`Probe::slow_running`] / [`Probe::slow_peak`].
pub const SLOW_ADD: Method<SlowParams, Sum> = Method::new(SERVICE, "slowAdd");
/// `a + b` once [`Probe::gate`] is notified: a call the test holds in flight.
pub const GATED: Method<AddParams, Sum> = Method::new(SERVICE, "gated");
/// Fails with [`DiskError`] (-32603 with its name and message).
pub const FAIL: Method<Empty, Sum> = Method::new(SERVICE, "fail");
/// Panics inside its future.
pub const PANIC_IN_FUTURE: Method<Empty, Sum> = Method::new(SERVICE, "panicInFuture");
/// Panics in the handler closure, before any future exists.
pub const PANIC_IN_CLOSURE: Method<Empty, Sum> = Method::new(SERVICE, "panicInClosure");
/// Returns a result that fails to serialize.
pub const BAD_RESULT: Method<Empty, Unserializable> = Method::new(SERVICE, "badResult");
/// Declared but given no handler (-32601 after params validation).
pub const UNHANDLED: Method<Empty, Sum> = Method::new(SERVICE, "unhandled");
/// Echoes its params exactly as they arrived (any JSON).
pub const RAW: Method<Value, Value> = Method::new(SERVICE, "raw");
/// A notification the test can await ([`Probe::notes`], [`Probe::notified`]).
pub const RECORD: NotificationMethod<Note> = NotificationMethod::new(SERVICE, "record");

/// What the handlers report to the test. Clones share every counter.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Handler executions started (all methods).
    pub started: Arc<AtomicUsize>,
    /// Notification texts, in arrival order.
    pub notes: Option<mpsc::UnboundedSender<String>>,
    /// Notifications handled, and a wake-up at each one.
    pub notified: Arc<AtomicUsize>,
    /// Woken (`notify_waiters`) at every notification.
    pub notified_signal: Arc<Notify>,
    /// Signalled when a `slowAdd` starts.
    pub slow_started: Option<mpsc::UnboundedSender<()>>,
    /// `slowAdd` handlers running now.
    pub slow_running: Arc<AtomicUsize>,
    /// The most `slowAdd` handlers ever running at once.
    pub slow_peak: Arc<AtomicUsize>,
    /// Releases one waiting `gated` call per `notify_one`.
    pub gate: Arc<Notify>,
}

impl Probe {
    /// Handler executions started so far.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Notifications handled so far.
    pub fn notifications(&self) -> usize {
        self.notified.load(Ordering::SeqCst)
    }

    fn start(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
}

/// The contract, without handlers (what a client-side manifest or a runtime check needs).
pub fn contract() -> Contract {
    Contract::builder(SERVICE)
        .method(ADD)
        .method(DIVIDE)
        .method(SLOW_ADD)
        .method(GATED)
        .method(FAIL)
        .method(PANIC_IN_FUTURE)
        .method(PANIC_IN_CLOSURE)
        .method(BAD_RESULT)
        .method(UNHANDLED)
        .method(RAW)
        .notification(RECORD)
        .build()
        .expect("the arith contract is valid")
}

/// The contract with its handlers, reporting to `probe`.
pub fn service(probe: Probe) -> Service {
    let p = probe;
    Service::builder(contract())
        .handle(ADD, {
            let p = p.clone();
            move |x: AddParams| {
                p.start();
                async move { Ok::<_, RpcError>(Sum { sum: x.a + x.b }) }
            }
        })
        .handle(DIVIDE, {
            let p = p.clone();
            move |x: AddParams| {
                p.start();
                async move {
                    if x.b == 0 {
                        return Err(RpcError::new(DIVISION_BY_ZERO, "division by zero"));
                    }
                    Ok(Sum { sum: x.a / x.b })
                }
            }
        })
        .handle(SLOW_ADD, {
            let p = p.clone();
            move |x: SlowParams| {
                p.start();
                if let Some(tx) = &p.slow_started {
                    let _ = tx.send(());
                }
                let (running, peak) = (p.slow_running.clone(), p.slow_peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(x.ms)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, RpcError>(Sum { sum: x.a + x.b })
                }
            }
        })
        .handle(GATED, {
            let p = p.clone();
            move |x: AddParams| {
                p.start();
                let gate = p.gate.clone();
                async move {
                    gate.notified().await;
                    Ok::<_, RpcError>(Sum { sum: x.a + x.b })
                }
            }
        })
        .handle(FAIL, {
            let p = p.clone();
            move |_: Empty| {
                p.start();
                async move { Err::<Sum, HandlerError>(DiskError.into()) }
            }
        })
        .handle(PANIC_IN_FUTURE, {
            let p = p.clone();
            move |_: Empty| {
                p.start();
                async move {
                    if true {
                        panic!("boom in the future");
                    }
                    Ok::<_, RpcError>(Sum { sum: 0 })
                }
            }
        })
        .handle(PANIC_IN_CLOSURE, {
            let p = p.clone();
            move |_: Empty| {
                p.start();
                if true {
                    panic!("boom in the closure");
                }
                async move { Ok::<_, RpcError>(Sum { sum: 0 }) }
            }
        })
        .handle(BAD_RESULT, {
            let p = p.clone();
            move |_: Empty| {
                p.start();
                async move { Ok::<_, RpcError>(Unserializable {}) }
            }
        })
        .handle(RAW, {
            let p = p.clone();
            move |v: Value| {
                p.start();
                async move { Ok::<_, RpcError>(v) }
            }
        })
        .on_notification(RECORD, move |n: Note| {
            p.start();
            let p = p.clone();
            async move {
                if let Some(tx) = &p.notes {
                    let _ = tx.send(n.text);
                }
                p.notified.fetch_add(1, Ordering::SeqCst);
                p.notified_signal.notify_waiters();
            }
        })
        .build()
        .expect("every arith handler matches the contract")
}
