//! The closed-loop load generator shared by every Rust side (library, raw floor, memory), and the
//! workload description sent unchanged to the Python side (bench/python/bench_peer.py runs the
//! same loop).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// Which transport a workload runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// Redis Streams.
    Redis,
    /// In-process memory bus.
    Memory,
}

/// Which `arith` method a workload calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Call {
    /// `arith.add {"a":1,"b":2}`.
    Add,
    /// `arith.echoText {"text": <payload × "x">}`.
    Echo,
}

/// One workload: `concurrency` workers calling in a loop for `duration_s` (at most `max_calls`
/// calls in all), after a warm-up run the same way and discarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Workload {
    /// Row key.
    pub name: String,
    /// Transport.
    pub transport: Transport,
    /// Method.
    pub method: Call,
    /// Echo payload length in bytes (0 for `add`).
    pub payload: usize,
    /// Workers, each with one call in flight.
    pub concurrency: usize,
    /// Warm-up duration (not measured).
    pub warmup_s: f64,
    /// Measured duration.
    pub duration_s: f64,
    /// Most calls issued per phase.
    pub max_calls: u64,
}

/// What one side measured for one workload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Sample {
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Wall time of the measured phase, until the last call returned.
    pub elapsed_s: f64,
    /// `ok / elapsed_s`.
    pub calls_per_s: f64,
    /// Median latency of successful calls.
    pub p50_ms: f64,
    /// 99th percentile latency of successful calls.
    pub p99_ms: f64,
}

/// Nearest-rank percentile of sorted nanoseconds, in ms (same rule as the Python side).
fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    sorted_ns[rank - 1] as f64 / 1e6
}

/// Runs `concurrency` workers, each awaiting `call()` in a loop until `duration` has passed or
/// `max_calls` calls were issued in all. All workers are polled by the calling task (no spawns),
/// as asyncio.gather does on the Python side.
pub(crate) async fn drive<F, Fut>(
    concurrency: usize,
    duration: Duration,
    max_calls: u64,
    call: F,
) -> Sample
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let issued = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + duration;
    let worker = || async {
        let mut lat = Vec::new();
        let mut errors = 0u64;
        let mut first_error = None;
        // Two clock reads per call: the end of one call is the start of the next.
        let mut now = Instant::now();
        while now < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_calls {
            let t = now;
            let result = call().await;
            now = Instant::now();
            match result {
                Ok(()) => lat.push((now - t).as_nanos() as u64),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        (lat, errors, first_error)
    };
    let results = join_all((0..concurrency.max(1)).map(|_| worker())).await;
    let elapsed = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut sample = Sample::default();
    for (lat, errors, first_error) in results {
        all.extend(lat);
        sample.errors += errors;
        if sample.first_error.is_none() {
            sample.first_error = first_error;
        }
    }
    all.sort_unstable();
    sample.ok = all.len() as u64;
    sample.elapsed_s = elapsed;
    sample.calls_per_s = if elapsed > 0.0 {
        sample.ok as f64 / elapsed
    } else {
        0.0
    };
    sample.p50_ms = percentile(&all, 0.50);
    sample.p99_ms = percentile(&all, 0.99);
    sample
}

/// Warm-up then measured run of `w`.
pub(crate) async fn run<F, Fut>(w: &Workload, call: F) -> Sample
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    if w.warmup_s > 0.0 {
        drive(
            w.concurrency,
            Duration::from_secs_f64(w.warmup_s),
            w.max_calls,
            &call,
        )
        .await;
    }
    drive(
        w.concurrency,
        Duration::from_secs_f64(w.duration_s),
        w.max_calls,
        &call,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7_000_000], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn drive_stops_at_max_calls() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(drive(4, Duration::from_secs(60), 10, || async { Ok(()) }));
        assert_eq!(s.ok, 10);
        assert_eq!(s.errors, 0);
    }
}
