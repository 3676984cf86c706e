//! The interop handler behaviour of spec §8.2, shared by `interop-server` and the wire-capture
//! test: `add`, `slowAdd` (sleeps `sleepMs`), `divide` (`-32000 division by zero` when b == 0),
//! `echoText`, and `notifications.ping`, each counting its invocations.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator::{HandlerError, RpcError, Service};

use crate::contracts::{
    AddParams, Arith, ArithContract, Notifications, NotificationsContract, PingParams,
    QuotientResult, SlowAddParams, SumResult, Text,
};

/// What the servers report: handler invocations (`HANDLED:<n>`) and the last ping time.
#[derive(Debug, Default)]
pub struct Counters {
    /// Handler invocations, requests and notifications alike.
    pub handled: AtomicUsize,
    /// Unix milliseconds of the last `ping`, 0 if none.
    pub pinged_at: AtomicI64,
}

/// Implements both interop services, counting every invocation.
#[derive(Debug, Clone)]
pub struct Drivers(pub Arc<Counters>);

impl Drivers {
    fn count(&self) {
        self.0.handled.fetch_add(1, Ordering::SeqCst);
    }
}

impl Arith for Drivers {
    async fn add(&self, p: AddParams) -> Result<SumResult, HandlerError> {
        self.count();
        Ok(SumResult { sum: p.a + p.b })
    }

    async fn divide(&self, p: AddParams) -> Result<QuotientResult, RpcError> {
        self.count();
        if p.b == 0.0 {
            return Err(RpcError::new(-32000, "division by zero"));
        }
        Ok(QuotientResult { q: p.a / p.b })
    }

    async fn echo_text(&self, p: Text) -> Result<Text, HandlerError> {
        self.count();
        Ok(p)
    }

    async fn slow_add(&self, p: SlowAddParams) -> Result<SumResult, HandlerError> {
        self.count();
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        Ok(SumResult { sum: p.a + p.b })
    }
}

impl Notifications for Drivers {
    async fn ping(&self, _p: PingParams) {
        self.count();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.0.pinged_at.store(now, Ordering::SeqCst);
    }
}

/// The `arith` service with the interop handlers.
pub fn arith(counters: Arc<Counters>) -> Service {
    ArithContract::service(Drivers(counters))
}

/// The `notifications` service with the interop handlers.
pub fn notifications(counters: Arc<Counters>) -> Service {
    NotificationsContract::service(Drivers(counters))
}
