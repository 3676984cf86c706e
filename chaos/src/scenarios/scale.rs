//! Scale: 10 000 concurrent callers on one client, and the soak (RSS must not grow after the
//! warm-up).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{count_runs, prefix, start_client, Ctx, Outcome, CAP};
use crate::load::{CallSpec, Counters, Load};
use crate::redis_proc::{Persistence, RedisProc};
use crate::report::{rss_kib, ScenarioResult};
use crate::service::{start_server, Runs};

/// Scenario 10: one `RedisRpcClient`, 10 000 callers at once, sustained (quick 3 s, full 15 s),
/// against a server with default options.
pub(super) async fn ten_thousand_concurrent(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let runs = Runs::new(CAP);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let duration = ctx.secs(3.0, 15.0);
    let start = Instant::now();
    let load = Load::start(client.clone(), counters.clone(), 10_000, CAP, |_| {
        CallSpec::ok(0, Duration::from_secs(30))
    });
    load.run_for(duration).await;
    let elapsed = start.elapsed();
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    r.check_no_timeouts();
    r.note(format!(
        "calls/s={:.0} client(unmatched={} malformed={})",
        r.ok as f64 / elapsed.as_secs_f64(),
        client.transport().stats().unmatched_replies,
        client.transport().stats().malformed_replies
    ));
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    Ok(r)
}

/// Scenario 11: 1 000 000 calls (quick 50 000) by 64 callers; RSS sampled every 10 s (quick
/// 1 s). The baseline is the first sample after 20 % of the calls; the last sample (after the
/// load) must be within 10 % of it.
pub(super) async fn soak(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let total: u64 = ctx.pick(50_000, 1_000_000);
    let runs = Runs::new(total);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let every = ctx.secs(1.0, 10.0);
    let start = Instant::now();
    let load = Load::start(client.clone(), counters.clone(), 64, total, |_| {
        CallSpec::ok(0, Duration::from_secs(10))
    });
    let mut finish = Box::pin(load.finish());
    let mut samples: Vec<(u64, u64)> = Vec::new(); // (calls done, RSS KiB)
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            () = &mut finish => break,
            _ = tick.tick() => samples.push((counters.sent.load(Ordering::Relaxed), rss_kib())),
        }
    }
    let elapsed = start.elapsed();
    samples.push((counters.sent.load(Ordering::Relaxed), rss_kib()));
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, total);
    let baseline = samples
        .iter()
        .find(|(done, _)| *done >= total / 5)
        .copied()
        .unwrap_or(samples[0]);
    let last = *samples.last().unwrap_or(&baseline);
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let growth = (last.1 as f64 - baseline.1 as f64) / baseline.1.max(1) as f64 * 100.0;
    r.check(
        "rss-growth<10%",
        growth < 10.0,
        format!(
            "{:+.1}% ({} → {} KiB after warm-up, max {} KiB, {} samples)",
            growth,
            baseline.1,
            last.1,
            max,
            samples.len()
        ),
    );
    r.note(format!(
        "calls/s={:.0}",
        r.ok as f64 / elapsed.as_secs_f64()
    ));
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    Ok(r)
}
