//! The `arith` test service: one method per dispatcher outcome, plus slow and counting ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Contract, HandlerError, Method, NotificationMethod, RpcError, Service};
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::mpsc;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddParams {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Sum {
    pub sum: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SlowParams {
    pub a: i64,
    pub b: i64,
    pub ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Empty {}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Note {
    pub text: String,
}

/// A result that cannot be serialized: "Result validation failed".
#[derive(Debug, Deserialize)]
pub(crate) struct Unserializable {}

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("not representable"))
    }
}

pub(crate) const ADD: Method<AddParams, Sum> = Method::new("arith", "add");
pub(crate) const DIVIDE: Method<AddParams, Sum> = Method::new("arith", "divide");
pub(crate) const SLOW_ADD: Method<SlowParams, Sum> = Method::new("arith", "slowAdd");
pub(crate) const FAIL: Method<Empty, Sum> = Method::new("arith", "fail");
pub(crate) const BAD_RESULT: Method<Empty, Unserializable> = Method::new("arith", "badResult");
pub(crate) const UNHANDLED: Method<Empty, Sum> = Method::new("arith", "unhandled");
pub(crate) const RECORD: NotificationMethod<Note> = NotificationMethod::new("arith", "record");

/// What the handlers report to the test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    /// Handler executions started (all methods).
    pub started: Arc<AtomicUsize>,
    /// Notification texts, in arrival order.
    pub notes: Option<mpsc::UnboundedSender<String>>,
    /// Signalled when a slowAdd starts.
    pub slow_started: Option<mpsc::UnboundedSender<()>>,
    /// slowAdd handlers running now, and the most ever running at once.
    pub slow_running: Arc<AtomicUsize>,
    pub slow_peak: Arc<AtomicUsize>,
}

impl Probe {
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

pub(crate) fn contract() -> Contract {
    Contract::builder("arith")
        .method(ADD)
        .method(DIVIDE)
        .method(SLOW_ADD)
        .method(FAIL)
        .method(BAD_RESULT)
        .method(UNHANDLED)
        .notification(RECORD)
        .build()
        .unwrap()
}

pub(crate) fn service(probe: Probe) -> Service {
    let p1 = probe.clone();
    let p2 = probe.clone();
    let p3 = probe.clone();
    let p4 = probe.clone();
    let p5 = probe.clone();
    let p6 = probe;
    Service::builder(contract())
        .handle(ADD, move |p: AddParams| {
            p1.started.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(Sum { sum: p.a + p.b }) }
        })
        .handle(DIVIDE, move |p: AddParams| {
            p2.started.fetch_add(1, Ordering::SeqCst);
            async move {
                if p.b == 0 {
                    return Err(RpcError::new(-32000, "division by zero"));
                }
                Ok(Sum { sum: p.a / p.b })
            }
        })
        .handle(SLOW_ADD, move |p: SlowParams| {
            p3.started.fetch_add(1, Ordering::SeqCst);
            if let Some(tx) = &p3.slow_started {
                let _ = tx.send(());
            }
            let (running, peak) = (p3.slow_running.clone(), p3.slow_peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(p.ms)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, RpcError>(Sum { sum: p.a + p.b })
            }
        })
        .handle(FAIL, move |_: Empty| {
            p4.started.fetch_add(1, Ordering::SeqCst);
            async move { Err::<Sum, _>(HandlerError::internal("DiskError", "disk on fire")) }
        })
        .handle(BAD_RESULT, move |_: Empty| {
            p5.started.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(Unserializable {}) }
        })
        .on_notification(RECORD, move |n: Note| {
            p6.started.fetch_add(1, Ordering::SeqCst);
            let tx = p6.notes.clone();
            async move {
                if let Some(tx) = tx {
                    let _ = tx.send(n.text);
                }
            }
        })
        .build()
        .unwrap()
}
