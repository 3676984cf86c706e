//! Steady traffic for fault tests: callers each making one `slowAdd` call after another until
//! told to stop, and a tally of what became of every call.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use clamator_over_redis::RedisRpcClient;
use clamator_protocol::Error;

use super::arith::{self, SlowParams};

/// What became of the calls of one run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Calls made.
    pub sent: u64,
    /// Answered with the right sum.
    pub ok: u64,
    /// Answered with another sum.
    pub wrong: u64,
    /// Failed, by error text (a call timeout is an answer the caller never got: see `lost`).
    pub errors: BTreeMap<String, u64>,
    /// Calls that timed out (the caller never got its answer) or that did not even resolve
    /// within their timeout plus a margin.
    pub lost: u64,
}

impl Tally {
    /// Errors other than timeouts.
    pub(crate) fn errored(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} ok={} wrong={} lost={} errored={} {:?}",
            self.sent,
            self.ok,
            self.wrong,
            self.lost,
            self.errored(),
            self.errors
        )
    }
}

/// A running load: `stop()` ends it after each caller's current call.
#[derive(Debug, Default)]
pub(crate) struct Load {
    stop: AtomicBool,
    next: AtomicI64,
    tally: Mutex<Tally>,
}

impl Load {
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Calls answered so far (for waiting until traffic flows).
    pub(crate) fn answered(&self) -> u64 {
        self.tally.lock().unwrap().ok
    }

    /// Runs `callers` callers, each calling `slowAdd` (handler time `handler_ms`, call timeout
    /// `timeout`) until [`stop`](Self::stop); returns the tally.
    pub(crate) async fn run(
        &self,
        client: &RedisRpcClient,
        callers: usize,
        handler_ms: u64,
        timeout: Duration,
    ) -> Tally {
        let callers = (0..callers).map(|_| async {
            while !self.stop.load(Ordering::SeqCst) {
                let a = self.next.fetch_add(1, Ordering::SeqCst);
                let params = SlowParams {
                    a,
                    b: 1,
                    ms: handler_ms,
                };
                let call = client.call_with_timeout(arith::SLOW_ADD, &params, timeout);
                let outcome = tokio::time::timeout(timeout + Duration::from_secs(5), call).await;
                let mut t = self.tally.lock().unwrap();
                t.sent += 1;
                match outcome {
                    Ok(Ok(sum)) if sum.sum == a + 1 => t.ok += 1,
                    Ok(Ok(_)) => t.wrong += 1,
                    Ok(Err(e)) if e.is_timeout() => t.lost += 1,
                    Ok(Err(e)) => *t.errors.entry(describe(&e)).or_default() += 1,
                    Err(_) => t.lost += 1,
                }
            }
        });
        futures_util::future::join_all(callers).await;
        self.tally.lock().unwrap().clone()
    }
}

fn describe(e: &Error) -> String {
    let text = e.to_string();
    text.chars().take(80).collect()
}
