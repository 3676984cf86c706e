//! The scenarios, one file per group, and what they share: the run context, the scenario list,
//! client start-up and the ran-more-than-once count.

mod handlers;
mod junk;
mod redis_faults;
mod scale;
mod server_faults;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::{RedisClientOptions, RedisRpcClient};

use crate::report::{rss_kib, ScenarioResult};
use crate::service::Runs;

/// Numbers `0..CAP` are counted in the preallocated run table; time-bounded loads stop there.
pub(crate) const CAP: u64 = 4_000_000;

/// How the suite runs.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Short sizes (CI).
    pub quick: bool,
    /// This binary, re-executed as `serve` where a server must be SIGKILLed.
    pub exe: PathBuf,
}

impl Ctx {
    /// `quick` in `--quick` mode, else `full`.
    pub(crate) fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// `pick` for seconds.
    pub(crate) fn secs(&self, quick: f64, full: f64) -> Duration {
        Duration::from_secs_f64(self.pick(quick, full))
    }
}

/// What a scenario body returns; `Err` is a setup failure (reported as a violation).
pub(crate) type Outcome = Result<ScenarioResult, String>;
type Body = fn(Ctx) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// One scenario of the suite.
pub(crate) struct Scenario {
    /// Unique name (`--only` matches a substring of it).
    pub name: &'static str,
    body: Body,
}

macro_rules! scenario {
    ($name:literal, $f:expr) => {
        Scenario {
            name: $name,
            body: |ctx: Ctx| Box::pin(async move { ($f)(&ctx, $name).await }),
        }
    };
}

/// Every scenario, in run order.
pub(crate) fn all() -> Vec<Scenario> {
    use redis_faults::{client_kill, client_pause, redis_kill, RedisKill};
    vec![
        // The soak first, while the heap is still small: freed memory of earlier scenarios kept
        // by the allocator would otherwise hide growth.
        scenario!("11-soak", scale::soak),
        scenario!("1-redis-kill-no-persist", |c, n| redis_kill(
            c,
            n,
            RedisKill::NoPersistence
        )),
        scenario!("2a-redis-kill-aof", |c, n| redis_kill(c, n, RedisKill::Aof)),
        scenario!("2b-redis-kill-aof-loading", |c, n| redis_kill(
            c,
            n,
            RedisKill::AofLoading
        )),
        scenario!("3a-client-kill-once", |c, n| client_kill(c, n, false)),
        scenario!("3b-client-kill-storm", |c, n| client_kill(c, n, true)),
        scenario!("4-client-pause-3s", client_pause),
        scenario!(
            "5-server-kill-takeover",
            server_faults::server_kill_takeover
        ),
        scenario!("6a-junk-command-stream", junk::junk_command_stream),
        scenario!("6b-junk-reply-stream", junk::junk_reply_stream),
        scenario!("7a-panic-in-future", |c, n| handlers::panics(c, n, false)),
        scenario!("7b-panic-before-future", |c, n| handlers::panics(
            c, n, true
        )),
        scenario!("8a-hang-handler-timeout", |c, n| handlers::hang(c, n, true)),
        scenario!("8b-hang-no-handler-timeout", |c, n| handlers::hang(
            c, n, false
        )),
        scenario!(
            "9-slow-handlers-two-servers",
            server_faults::slow_handlers_two_servers
        ),
        scenario!("10-10k-concurrent-calls", scale::ten_thousand_concurrent),
    ]
}

/// Runs one scenario, bounded in time; a setup failure or overrun becomes a violation.
pub(crate) async fn run(s: &Scenario, ctx: &Ctx) -> ScenarioResult {
    let start = Instant::now();
    let limit = ctx.secs(120.0, 900.0);
    let mut result = match tokio::time::timeout(limit, (s.body)(ctx.clone())).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let mut r = ScenarioResult::new(s.name);
            r.setup_error = Some(e);
            r
        }
        Err(_) => {
            let mut r = ScenarioResult::new(s.name);
            r.setup_error = Some(format!("scenario did not finish within {limit:?}"));
            r
        }
    };
    result.elapsed_s = start.elapsed().as_secs_f64();
    result.rss_kib = rss_kib();
    result
}

/// A key prefix for one scenario.
pub(crate) fn prefix(name: &str) -> String {
    format!("chaos-{}", name.split('-').next().unwrap_or("x"))
}

/// Starts a client on `url` with `prefix`, options adjusted by `tune`.
pub(crate) async fn start_client(
    url: &str,
    prefix: &str,
    tune: impl FnOnce(RedisClientOptions) -> RedisClientOptions,
) -> Result<Arc<RedisRpcClient>, String> {
    let opts = tune(RedisClientOptions::new(prefix).with_redis_url(url));
    let client = RedisRpcClient::new(opts);
    client.start().await.map_err(|e| e.to_string())?;
    Ok(Arc::new(client))
}

/// Puts the count of numbers below `limit` that ran more than once into `r`.
pub(crate) fn count_runs(r: &mut ScenarioResult, runs: &Runs, limit: u64) {
    let twice = runs.ran_more_than_once(limit);
    r.ran_twice = twice.len() as u64;
    if let Some(first) = twice.first() {
        r.note(format!("first-ran>1=n{first}x{}", runs.get(*first)));
    }
}
