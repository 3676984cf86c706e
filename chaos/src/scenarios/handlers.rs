//! Misbehaving handlers: panics (inside the future and in the closure before it returns one) and
//! handlers that never finish (with and without a handler timeout).

use std::time::{Duration, Instant};

use super::{count_runs, prefix, start_client, Ctx, Outcome, CAP};
use crate::load::{CallSpec, Counters, Expect, Load};
use crate::redis_proc::{Persistence, RedisProc};
use crate::report::{ms, ScenarioResult};
use crate::service::{start_server, Mode};

const CALLERS: usize = 16;

/// Scenario 7: every 4th call panics (`before_future`: in the closure body, else inside the
/// async body); those callers must get `-32603` promptly, the others their answer.
pub(super) async fn panics(ctx: &Ctx, name: &'static str, before_future: bool) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let runs = crate::service::Runs::new(CAP);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let timeout = ctx.secs(3.0, 5.0);
    let mode = if before_future {
        Mode::PanicSync
    } else {
        Mode::PanicAsync
    };
    let load = Load::start(client.clone(), counters.clone(), CALLERS, CAP, move |n| {
        if n % 4 == 0 {
            CallSpec {
                sleep_ms: 0,
                mode,
                expect: Expect::Rpc(clamator_protocol::codes::INTERNAL_ERROR),
                timeout,
            }
        } else {
            CallSpec::ok(1, timeout)
        }
    });
    load.run_for(ctx.secs(3.0, 15.0)).await;
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    r.check(
        "every-call-answered",
        r.errored_total() == 0,
        format!("{} errored", r.errored_total()),
    );
    r.check(
        "answers-prompt(<2s)",
        r.max_latency_ms < 2000,
        format!("max {}ms", r.max_latency_ms),
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    Ok(r)
}

/// Scenario 8: one call in 50 (at most 64 in all) never finishes. With a 1 s handler timeout
/// its caller gets `-32001`; without, it times out (errored, not lost) and the server still
/// stops within its grace.
pub(super) async fn hang(ctx: &Ctx, name: &'static str, handler_timeout: bool) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let runs = crate::service::Runs::new(CAP);
    let ht = handler_timeout.then_some(Duration::from_secs(1));
    let server = start_server(&url, &prefix, runs.clone(), |o| o.with_handler_timeout(ht)).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let timeout = if handler_timeout {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(2)
    };
    let load = Load::start(client.clone(), counters.clone(), CALLERS, CAP, move |n| {
        if n % 50 == 0 && n < 50 * 64 {
            CallSpec {
                sleep_ms: 0,
                mode: Mode::Hang,
                expect: if handler_timeout {
                    Expect::Rpc(clamator_over_redis::codes::HANDLER_TIMEOUT)
                } else {
                    Expect::Result
                },
                timeout,
            }
        } else {
            CallSpec::ok(1, timeout)
        }
    });
    load.run_for(ctx.secs(4.0, 15.0)).await;
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    if handler_timeout {
        r.check(
            "every-call-answered",
            r.errored_total() == 0,
            format!("{} errored", r.errored_total()),
        );
    } else {
        let other: u64 = r
            .errored
            .iter()
            .filter(|(k, _)| k.as_str() != "timeout")
            .map(|(_, v)| v)
            .sum();
        r.check(
            "only-hung-calls-time-out",
            other == 0,
            format!("{other} non-timeout errors"),
        );
    }
    client.stop().await;
    let grace = Duration::from_secs(1);
    let t = Instant::now();
    let stopped = tokio::time::timeout(grace + Duration::from_secs(5), server.stop(grace))
        .await
        .is_ok();
    r.check(
        "server-stop(grace 1s)",
        stopped,
        format!("{}ms", ms(t.elapsed())),
    );
    r.note(format!(
        "handler_timeouts={}",
        server.transport().stats().handler_timeouts
    ));
    drop(redis);
    Ok(r)
}
