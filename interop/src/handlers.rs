//! The interop handler behaviour of spec §8.2, shared by `interop-server` and the wire-capture
//! test: `add`, `slowAdd` (sleeps `sleepMs`), `divide` (`-32000 division by zero` when b == 0),
//! `echoText`, and `notifications.ping`, each counting its invocations.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::{RpcError, Service};

use crate::contracts::{
    self, AddParams, PingParams, QuotientResult, SlowAddParams, SumResult, Text,
};

/// What the servers report: handler invocations (`HANDLED:<n>`) and the last ping time.
#[derive(Debug, Default)]
pub struct Counters {
    /// Handler invocations, requests and notifications alike.
    pub handled: AtomicUsize,
    /// Unix milliseconds of the last `ping`, 0 if none.
    pub pinged_at: AtomicI64,
}

/// The `arith` service with the interop handlers.
pub fn arith(counters: Arc<Counters>) -> Result<Service, clamator_protocol::Error> {
    let c = [
        counters.clone(),
        counters.clone(),
        counters.clone(),
        counters,
    ];
    let [c1, c2, c3, c4] = c;
    Service::builder(contracts::arith()?)
        .handle(contracts::ADD, move |p: AddParams| {
            c1.handled.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(SumResult { sum: p.a + p.b }) }
        })
        .handle(contracts::SLOW_ADD, move |p: SlowAddParams| {
            c2.handled.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                Ok::<_, RpcError>(SumResult { sum: p.a + p.b })
            }
        })
        .handle(contracts::DIVIDE, move |p: AddParams| {
            c3.handled.fetch_add(1, Ordering::SeqCst);
            async move {
                if p.b == 0.0 {
                    return Err(RpcError::new(-32000, "division by zero"));
                }
                Ok(QuotientResult { q: p.a / p.b })
            }
        })
        .handle(contracts::ECHO_TEXT, move |p: Text| {
            c4.handled.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(p) }
        })
        .build()
}

/// The `notifications` service with the interop handlers.
pub fn notifications(counters: Arc<Counters>) -> Result<Service, clamator_protocol::Error> {
    Service::builder(contracts::notifications()?)
        .on_notification(contracts::PING, move |_p: PingParams| {
            counters.handled.fetch_add(1, Ordering::SeqCst);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            counters.pinged_at.store(now, Ordering::SeqCst);
            async {}
        })
        .build()
}
