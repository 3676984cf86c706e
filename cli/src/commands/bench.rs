//! `clamator bench <service>.<method>`: `--concurrency` callers in a loop for `--duration`,
//! then calls/s, latency percentiles (HdrHistogram), a text histogram and errors by kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::RedisRpcClient;
use clamator_protocol::{Error, TransportError};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::cli::{BenchArgs, Global};
use crate::commands::call::{client, describe, read_params};
use crate::error::{CliError, CliResult};
use crate::output::{human_duration, Out, Table};
use crate::store::split_target;

/// What one caller measured.
struct Tally {
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

fn error_kind(e: &Error) -> String {
    match e {
        Error::Rpc(r) => format!("rpc {} {}", r.code, r.message),
        Error::Transport(TransportError::Timeout) => "call timeout".to_owned(),
        other => other.to_string(),
    }
}

async fn caller(
    client: Arc<RedisRpcClient>,
    service: String,
    method: String,
    params: Value,
    timeout: Duration,
    until: Instant,
    interrupted: Arc<AtomicBool>,
) -> Tally {
    let mut t = Tally {
        latency_us: new_histogram(),
        errors: BTreeMap::new(),
    };
    while Instant::now() < until && !interrupted.load(Ordering::Relaxed) {
        let started = Instant::now();
        match client
            .call_raw(&service, &method, params.clone(), Some(timeout))
            .await
        {
            Ok(_) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                t.latency_us.saturating_record(us.max(1));
            }
            Err(e) => *t.errors.entry(error_kind(&e)).or_default() += 1,
        }
    }
    t
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Log-2 buckets from the fastest to the slowest call: `(upper bound µs, count)`.
fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let start = h.min().max(1).next_power_of_two() / 2;
    let mut out = Vec::new();
    for v in h.iter_log(start.max(1), 2.0) {
        out.push((v.value_iterated_to(), v.count_since_last_iteration()));
    }
    while out.last().is_some_and(|&(_, c)| c == 0) {
        out.pop();
    }
    let first = out.iter().position(|&(_, c)| c > 0).unwrap_or(0);
    out.drain(..first);
    out
}

/// `clamator bench`.
pub async fn run(g: &Global, out: &Out, args: &BenchArgs) -> CliResult {
    let (service, method) = split_target(&args.target)?;
    let params = read_params(args.params.as_deref())?;
    let client = Arc::new(client(g, args.timeout).await?);
    // One call first: a missing server or a bad method fails here, with its own message.
    if let Err(e) = client
        .call_raw(service, method, params.clone(), Some(args.timeout))
        .await
    {
        if !matches!(e, Error::Rpc(_)) {
            client.stop().await;
            return Err(describe(&e, g, &args.target, args.timeout));
        }
    }
    let started = Instant::now();
    let until = started + args.duration;
    let ticks = args.duration.as_millis().max(1) as u64;
    let bar = out.progress(ticks, &format!("bench {}", args.target));
    // Ctrl-C ends the run early; the calls made so far are still reported.
    let interrupted = Arc::new(AtomicBool::new(false));
    let on_ctrl_c = {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::Relaxed);
            }
        })
    };
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            tokio::spawn(caller(
                client.clone(),
                service.to_owned(),
                method.to_owned(),
                params.clone(),
                args.timeout,
                until,
                interrupted.clone(),
            ))
        })
        .collect();
    let progress = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(100));
            loop {
                every.tick().await;
                bar.set_position(started.elapsed().as_millis() as u64);
            }
        })
    };
    let mut latency = new_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for task in tasks {
        let t = task
            .await
            .map_err(|e| CliError::transport(format!("a bench caller failed: {e}")))?;
        latency.add(&t.latency_us).ok();
        for (k, n) in t.errors {
            *errors.entry(k).or_default() += n;
        }
    }
    progress.abort();
    on_ctrl_c.abort();
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    client.stop().await;
    let ok = latency.len();
    let failed: u64 = errors.values().sum();
    let per_sec = (ok + failed) as f64 / elapsed.as_secs_f64();
    let q = |p: f64| ms(latency.value_at_quantile(p));
    let hist = buckets(&latency);
    if out.json {
        let hist: Vec<Value> = hist
            .iter()
            .map(|&(le, n)| json!({"leMs": ms(le), "count": n}))
            .collect();
        out.json_doc(&json!({
            "target": args.target, "concurrency": args.concurrency,
            "seconds": elapsed.as_secs_f64(), "calls": ok + failed, "ok": ok, "errors": errors,
            "callsPerSecond": per_sec,
            "latencyMs": {"min": ms(latency.min()), "mean": latency.mean() / 1000.0,
                          "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": ms(latency.max())},
            "histogram": hist,
        }));
    } else {
        out.line(&format!(
            "{}: {} calls in {} with {} callers: {per_sec:.0} calls/s, {failed} errors",
            args.target,
            ok + failed,
            human_duration(elapsed),
            args.concurrency
        ));
        out.line(&format!(
            "latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            q(0.50),
            q(0.90),
            q(0.99),
            ms(latency.max())
        ));
        let most = hist.iter().map(|&(_, n)| n).max().unwrap_or(1).max(1);
        let mut table = Table::new(&["≤ MS", "CALLS", ""]);
        for &(le, n) in &hist {
            let bar_len = (n * 40).div_ceil(most) as usize;
            table.row(vec![
                format!("{:.2}", ms(le)),
                n.to_string(),
                "#".repeat(bar_len),
            ]);
        }
        if !table.is_empty() {
            out.line(&table.render());
        }
        if !errors.is_empty() {
            let mut table = Table::new(&["ERROR", "COUNT"]);
            for (k, n) in &errors {
                table.row(vec![k.clone(), n.to_string()]);
            }
            out.line(&table.render());
        }
    }
    if ok == 0 {
        return Err(CliError::failed(format!(
            "no call of {} succeeded ({failed} errors)",
            args.target
        ))
        .already_printed());
    }
    Ok(())
}
