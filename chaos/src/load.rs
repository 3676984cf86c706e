//! The load generator and its counters: callers doing sequential `chaos.work` calls, each call
//! classified as answered correctly, errored (by kind), wrong or lost.
//!
//! A call is **lost** when its future did not resolve within its own timeout plus
//! [`LOST_MARGIN`]: the library's timeout must fire first, so an outer timeout firing means the
//! caller would have waited forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_over_redis::RedisRpcClient;
use clamator_protocol::{Error, TransportError};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::service::{Mode, METHOD, SERVICE};

/// Added to a call's timeout before the call counts as lost.
pub(crate) const LOST_MARGIN: Duration = Duration::from_secs(5);

/// How long a caller waits after an errored call before its next one.
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// What a call should get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `{"n": n}`.
    Result,
    /// A JSON-RPC error with this code.
    Rpc(i64),
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Got what it expected.
    Ok,
    /// Failed; the kind (`timeout`, `xadd`, `rpc-32603`, …).
    Errored(String),
    /// Got an answer other than the expected one.
    Wrong,
    /// Never resolved.
    Lost,
}

/// Short name of an error for the `errored` breakdown.
pub(crate) fn error_kind(e: &Error) -> String {
    match e {
        Error::Rpc(r) => format!("rpc{}", r.code),
        Error::Transport(TransportError::Timeout) => "timeout".into(),
        Error::Transport(TransportError::NoServer { .. }) => "no-server".into(),
        Error::Transport(TransportError::Stopped) => "stopped".into(),
        Error::Transport(TransportError::Backend { context, .. }) => context
            .strip_suffix(" failed")
            .unwrap_or(context)
            .replace(' ', "-"),
        Error::Transport(t) => t.to_string().replace(' ', "-"),
        Error::Protocol(_) => "protocol".into(),
        other => other.to_string().replace(' ', "-"),
    }
}

/// Counters shared by the callers of one scenario.
#[derive(Default)]
pub(crate) struct Counters {
    next_n: AtomicU64,
    /// Calls issued.
    pub sent: AtomicU64,
    /// Calls answered as expected.
    pub ok: AtomicU64,
    /// Calls answered with something else.
    pub wrong: AtomicU64,
    /// Calls that never resolved.
    pub lost: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    max_latency_us: AtomicU64,
    fault_end: Mutex<Option<Instant>>,
    first_ok_after_fault: Mutex<Option<Instant>>,
    ok_event: tokio::sync::Notify,
}

impl Counters {
    /// Fresh counters; call numbers start at 0.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The next unique call number.
    pub(crate) fn next_n(&self) -> u64 {
        self.next_n.fetch_add(1, Ordering::Relaxed)
    }

    /// Records the end of the fault: recovery is measured from here.
    pub(crate) fn fault_ended(&self) {
        *self
            .fault_end
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        *self
            .first_ok_after_fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Time from the end of the fault to the first call answered correctly after it.
    pub(crate) fn recovery(&self) -> Option<Duration> {
        let end = (*self
            .fault_end
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))?;
        let first = (*self
            .first_ok_after_fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))?;
        Some(first.saturating_duration_since(end))
    }

    /// Errors by kind.
    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The slowest call that resolved (lost calls excluded).
    pub(crate) fn max_latency(&self) -> Duration {
        Duration::from_micros(self.max_latency_us.load(Ordering::Relaxed))
    }

    /// Counts one finished call.
    pub(crate) fn record(&self, outcome: &Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.ok_event.notify_waiters();
                if self
                    .fault_end
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .is_some()
                {
                    let mut first = self
                        .first_ok_after_fault
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    first.get_or_insert_with(Instant::now);
                }
            }
            Outcome::Errored(kind) => {
                *self
                    .errors
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(kind.clone())
                    .or_default() += 1;
            }
            Outcome::Wrong => {
                self.wrong.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Lost => {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        if *outcome != Outcome::Lost {
            self.max_latency_us
                .fetch_max(latency.as_micros() as u64, Ordering::Relaxed);
        }
    }
}

/// One call's request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSpec {
    /// Handler sleep.
    pub sleep_ms: u64,
    /// Handler behaviour.
    pub mode: Mode,
    /// What the caller should get.
    pub expect: Expect,
    /// The library's call timeout.
    pub timeout: Duration,
}

impl CallSpec {
    /// A normal call answered `{"n": n}` after `sleep_ms`.
    pub(crate) fn ok(sleep_ms: u64, timeout: Duration) -> Self {
        Self {
            sleep_ms,
            mode: Mode::Ok,
            expect: Expect::Result,
            timeout,
        }
    }
}

/// Makes one call of `chaos.work` with number `n`, classifies it and counts it.
pub(crate) async fn call_one(
    client: &RedisRpcClient,
    counters: &Counters,
    n: u64,
    spec: CallSpec,
) -> Outcome {
    counters.sent.fetch_add(1, Ordering::Relaxed);
    let params = json!({"n": n, "sleepMs": spec.sleep_ms, "mode": spec.mode});
    let start = Instant::now();
    let call = client.call_raw(SERVICE, METHOD, params, Some(spec.timeout));
    let outcome = match tokio::time::timeout(spec.timeout + LOST_MARGIN, call).await {
        Err(_) => Outcome::Lost,
        Ok(Ok(v)) => classify_value(&v, n, spec.expect),
        Ok(Err(e)) => match (&e, spec.expect) {
            (Error::Rpc(r), Expect::Rpc(code)) if r.code == code => Outcome::Ok,
            _ => Outcome::Errored(error_kind(&e)),
        },
    };
    counters.record(&outcome, start.elapsed());
    outcome
}

fn classify_value(v: &Value, n: u64, expect: Expect) -> Outcome {
    if expect == Expect::Result
        && v.get("n").and_then(Value::as_u64) == Some(n)
        && v.as_object().is_some_and(|o| o.len() == 1)
    {
        Outcome::Ok
    } else {
        Outcome::Wrong
    }
}

/// A running load: `callers` tasks, each calling sequentially until stopped or until `max_calls`
/// numbers were handed out in all.
pub(crate) struct Load {
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Load {
    /// Starts `callers` callers on `client`; `spec(n)` describes call `n`.
    pub(crate) fn start(
        client: Arc<RedisRpcClient>,
        counters: Arc<Counters>,
        callers: usize,
        max_calls: u64,
        spec: impl Fn(u64) -> CallSpec + Send + Sync + 'static,
    ) -> Self {
        let stop = CancellationToken::new();
        let spec = Arc::new(spec);
        let mut tasks = JoinSet::new();
        for _ in 0..callers {
            let (client, counters, spec, stop) =
                (client.clone(), counters.clone(), spec.clone(), stop.clone());
            tasks.spawn(async move {
                while !stop.is_cancelled() {
                    let n = counters.next_n();
                    if n >= max_calls {
                        break;
                    }
                    if let Outcome::Errored(_) = call_one(&client, &counters, n, spec(n)).await {
                        // A failed caller backs off a little, as a real one would: a fast
                        // failing outage (xadd failed) is then not a hot loop.
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            });
        }
        Self { stop, tasks }
    }

    /// Tells the callers to stop after their current call and waits for all of them (each call
    /// is bounded by its timeout plus [`LOST_MARGIN`]).
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until every caller has finished on its own (`max_calls` reached).
    pub(crate) async fn finish(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Runs the load for `d`, then stops it.
    pub(crate) async fn run_for(self, d: Duration) {
        tokio::time::sleep(d).await;
        self.stop().await;
    }
}

/// Waits until `counters` counted at least `k` correct answers (at most `within`).
pub(crate) async fn wait_ok(counters: &Counters, k: u64, within: Duration) -> bool {
    let wait = async {
        loop {
            let event = counters.ok_event.notified();
            if counters.ok.load(Ordering::Relaxed) >= k {
                return;
            }
            event.await;
        }
    };
    tokio::time::timeout(within, wait).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clamator_protocol::RpcError;

    #[test]
    fn only_the_exact_answer_is_correct() {
        assert_eq!(
            classify_value(&json!({"n": 7}), 7, Expect::Result),
            Outcome::Ok
        );
        assert_eq!(
            classify_value(&json!({"n": 8}), 7, Expect::Result),
            Outcome::Wrong
        );
        assert_eq!(
            classify_value(&json!({"n": 7, "x": 1}), 7, Expect::Result),
            Outcome::Wrong
        );
        assert_eq!(
            classify_value(&json!({"n": 7}), 7, Expect::Rpc(-32603)),
            Outcome::Wrong
        );
    }

    #[test]
    fn error_kinds_are_short() {
        assert_eq!(error_kind(&TransportError::Timeout.into()), "timeout");
        assert_eq!(
            error_kind(&TransportError::backend("xadd failed", "boom").into()),
            "xadd"
        );
        assert_eq!(
            error_kind(&RpcError::new(-32603, "Internal error").into()),
            "rpc-32603"
        );
    }

    #[test]
    fn recovery_counts_from_the_end_of_the_fault() {
        let c = Counters::new();
        c.record(&Outcome::Ok, Duration::ZERO);
        assert_eq!(c.recovery(), None);
        c.fault_ended();
        c.record(&Outcome::Errored("timeout".into()), Duration::ZERO);
        assert_eq!(c.recovery(), None);
        c.record(&Outcome::Ok, Duration::ZERO);
        assert!(c.recovery().is_some());
        assert_eq!(c.errors().get("timeout"), Some(&1));
    }
}
