//! Faults of Redis itself under 64 callers: SIGKILL + restart (without persistence, with AOF,
//! with AOF and a dataset slow to load), `CLIENT KILL TYPE normal` (once and as a storm) and
//! `CLIENT PAUSE 3000`. Servers and clients run in-process.

use std::time::Duration;

use super::{count_runs, prefix, start_client, Ctx, Outcome, CAP};
use crate::load::{wait_ok, CallSpec, Counters, Load};
use crate::redis_proc::{admin, Persistence, RedisProc};
use crate::report::{ms, ScenarioResult};
use crate::service::{start_server, Runs};

/// Callers of every scenario here.
const CALLERS: usize = 64;
/// Handler time of each call, so that calls are inside handlers when the fault hits.
const SLEEP_MS: u64 = 2;

/// Which restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RedisKill {
    /// No persistence: everything (streams, groups) is gone after the restart.
    NoPersistence,
    /// AOF, `appendfsync always`.
    Aof,
    /// AOF with filler keys and a per-key load delay: Redis answers `LOADING` for ~1.5 s.
    AofLoading,
}

/// Filler keys for the loading variant (in the AOF's RDB base).
const FILLER_KEYS: u64 = 11_000;
/// Wanted loading time of the restart.
const LOADING: Duration = Duration::from_millis(1500);
/// What one `key-load-delay` sleep costs in practice (the shortest sleep; measured on the 2-vCPU
/// machine of this project).
const SLEEP_COST: Duration = Duration::from_micros(130);

/// `key-load-delay` so that `units` keys plus AOF commands load in about [`LOADING`]: a negative
/// value `-k` sleeps (the shortest sleep) once every `k` units on average.
fn load_delay(units: u64) -> String {
    let per_sleep = LOADING.as_secs_f64() / SLEEP_COST.as_secs_f64();
    let k = (units as f64 / per_sleep).round().max(1.0) as u64;
    format!("-{k}")
}

/// A Redis, a server, a client and a running load, warmed up.
struct Rig {
    redis: RedisProc,
    server: clamator_over_redis::RedisRpcServer,
    client: std::sync::Arc<clamator_over_redis::RedisRpcClient>,
    counters: std::sync::Arc<Counters>,
    runs: std::sync::Arc<Runs>,
    load: Load,
}

async fn rig(ctx: &Ctx, name: &str, redis: RedisProc) -> Result<Rig, String> {
    let url = redis.url();
    let prefix = prefix(name);
    let runs = Runs::new(CAP);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let timeout = ctx.secs(5.0, 10.0);
    let load = Load::start(client.clone(), counters.clone(), CALLERS, CAP, move |_| {
        CallSpec::ok(SLEEP_MS, timeout)
    });
    if !wait_ok(&counters, 500, Duration::from_secs(20)).await {
        return Err("warm-up: no 500 correct answers within 20 s".into());
    }
    Ok(Rig {
        redis,
        server,
        client,
        counters,
        runs,
        load,
    })
}

impl Rig {
    /// Lets the load run `after` past the fault, stops everything and collects the figures;
    /// with `expect_answers`, a call timeout is a violation (the fault is shorter than it).
    async fn finish(
        self,
        after: Duration,
        expect_answers: bool,
        mut r: ScenarioResult,
    ) -> ScenarioResult {
        tokio::time::sleep(after).await;
        self.load.stop().await;
        r.absorb(&self.counters);
        count_runs(&mut r, &self.runs, CAP);
        if expect_answers {
            r.check_no_timeouts();
        }
        let (s, c) = (
            self.server.transport().stats(),
            self.client.transport().stats(),
        );
        r.note(format!(
            "server(loop_errors={} reclaimed={} replies={}) client(loop_errors={} unmatched={})",
            s.loop_errors, s.reclaimed, s.replies, c.loop_errors, c.unmatched_replies
        ));
        self.client.stop().await;
        self.server.stop(Duration::from_secs(1)).await;
        drop(self.redis);
        r
    }
}

/// Scenarios 1 and 2: SIGKILL Redis under load, restart it on the same port.
pub(super) async fn redis_kill(ctx: &Ctx, name: &'static str, kind: RedisKill) -> Outcome {
    let (persistence, extra): (_, &[&str]) = match kind {
        RedisKill::NoPersistence => (Persistence::None, &[]),
        RedisKill::Aof => (Persistence::Aof, &[]),
        RedisKill::AofLoading => (
            Persistence::Aof,
            // Answer LOADING (instead of nothing) every KiB of loading.
            &["--loading-process-events-interval-bytes", "1024"],
        ),
    };
    let redis = RedisProc::start(persistence, extra)?;
    let mut r = ScenarioResult::new(name);
    // Any run may be repeated when Redis dies between a handler and its acknowledgement.
    r.ran_twice_allowed = true;
    if kind == RedisKill::AofLoading {
        prefill(&redis.url()).await?;
    }
    let mut rig = rig(ctx, name, redis).await?;
    tokio::time::sleep(ctx.secs(1.0, 5.0)).await;
    rig.redis.kill9();
    if kind == RedisKill::AofLoading {
        let units = FILLER_KEYS + rig.redis.aof_incr_commands();
        rig.redis.set_arg("--key-load-delay", &load_delay(units));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.redis.restart()?;
    rig.counters.fault_ended();
    if kind == RedisKill::AofLoading {
        let loading = rig.redis.wait_serving(Duration::from_secs(60)).await?;
        r.note(format!("loading={}ms", ms(loading)));
    }
    // Without persistence the requests in Redis are gone with it: their callers time out.
    let expect_answers = kind != RedisKill::NoPersistence;
    Ok(rig.finish(ctx.secs(4.0, 15.0), expect_answers, r).await)
}

/// Writes the filler keys and rewrites the AOF so they sit in its RDB base (loaded key by key).
async fn prefill(url: &str) -> Result<(), String> {
    let mut conn = admin(url).await?;
    let per_script = 1000;
    for chunk in 0..FILLER_KEYS / per_script {
        redis::cmd("EVAL")
            .arg("for i=1,tonumber(ARGV[2]) do redis.call('SET','filler:'..ARGV[1]..':'..i,'xxxxxxxxxxxxxxxxxxxxxxxx') end")
            .arg(0)
            .arg(chunk)
            .arg(per_script)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| format!("prefill: {e}"))?;
    }
    redis::cmd("BGREWRITEAOF")
        .query_async::<String>(&mut conn)
        .await
        .map_err(|e| format!("BGREWRITEAOF: {e}"))?;
    // Polling Redis for the end of the rewrite (no event to await).
    for _ in 0..1000 {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("AOF rewrite did not finish within 20 s".into())
}

/// Scenario 3: `CLIENT KILL TYPE normal` once, or 40 times (quick: 12) every 250 ms.
pub(super) async fn client_kill(ctx: &Ctx, name: &'static str, storm: bool) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let rig = rig(ctx, name, redis).await?;
    let mut r = ScenarioResult::new(name);
    // A request whose XADD reply was cut with its connection is written again (the client
    // cannot tell whether it landed): at-least-once allows that second run.
    r.ran_twice_allowed = true;
    tokio::time::sleep(ctx.secs(1.0, 3.0)).await;
    let kills = if storm { ctx.pick(12, 40) } else { 1 };
    let mut admin_conn = admin(&url).await?;
    let mut killed = 0i64;
    for i in 0..kills {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        killed += redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query_async::<i64>(&mut admin_conn)
            .await
            .map_err(|e| format!("CLIENT KILL: {e}"))?;
    }
    rig.counters.fault_ended();
    r.note(format!("kills={kills} connections-killed={killed}"));
    Ok(rig.finish(ctx.secs(4.0, 10.0), true, r).await)
}

/// Scenario 4: `CLIENT PAUSE 3000` (all commands) under load.
pub(super) async fn client_pause(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let rig = rig(ctx, name, redis).await?;
    let r = ScenarioResult::new(name);
    tokio::time::sleep(ctx.secs(1.0, 3.0)).await;
    let mut admin_conn = admin(&url).await?;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .query_async::<()>(&mut admin_conn)
        .await
        .map_err(|e| format!("CLIENT PAUSE: {e}"))?;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    rig.counters.fault_ended();
    Ok(rig.finish(ctx.secs(4.0, 10.0), true, r).await)
}

#[cfg(test)]
mod tests {
    use super::load_delay;

    #[test]
    fn load_delay_spreads_the_sleeps() {
        // 1.5 s / 130 µs ≈ 11 538 sleeps.
        assert_eq!(load_delay(1_000), "-1");
        assert_eq!(load_delay(11_538), "-1");
        assert_eq!(load_delay(46_000), "-4");
    }
}
