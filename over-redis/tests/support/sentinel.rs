//! Servers, clients and a failover under steady load on a local Sentinel set (a primary, its
//! replicas and three sentinels), shared by the Sentinel test binaries.

use std::time::{Duration, Instant};

use clamator_over_redis::testing::RedisSentinels;
use clamator_over_redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};

use super::arith::{self, AddParams, Probe};
use super::cluster::prefix;
use super::eventually;
use super::load::{Load, Tally};

/// Concurrent callers of the load.
pub(crate) const CALLERS: usize = 32;

/// `Some((replicas, timeout))`: the transport's writes wait for that many replicas.
pub(crate) type Replicated = Option<(usize, Duration)>;

/// What a failover run may show besides answered calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// At most this many calls lost (timed out).
    pub max_lost: u64,
    /// Whether callers may see the typed `no server for service` error (the promoted replica
    /// lacking the consumer group); any other error fails the run.
    pub no_server_allowed: bool,
}

/// A primary with `replicas` replicas and three sentinels.
pub(crate) fn start_set(replicas: usize) -> RedisSentinels {
    RedisSentinels::start_with_replicas(replicas)
        .expect("a local Sentinel deployment (redis-server --sentinel)")
}

async fn sentinel_server(
    set: &RedisSentinels,
    prefix: &str,
    probe: Probe,
    replicated: Replicated,
) -> RedisRpcServer {
    let mut opts = RedisServerOptions::new(prefix)
        .with_sentinel(set.sentinel_urls(), set.master_name())
        .with_claim_idle(Duration::from_secs(2));
    if let Some((n, timeout)) = replicated {
        opts = opts.with_replicated_writes(n, timeout);
    }
    let server = RedisRpcServer::new(opts);
    server.register_service(arith::service(probe)).unwrap();
    server.start().await.unwrap();
    server
}

async fn sentinel_client(
    set: &RedisSentinels,
    prefix: &str,
    replicated: Replicated,
) -> RedisRpcClient {
    let mut opts =
        RedisClientOptions::new(prefix).with_sentinel(set.sentinel_urls(), set.master_name());
    if let Some((n, timeout)) = replicated {
        opts = opts.with_replicated_writes(n, timeout);
    }
    let client = RedisRpcClient::new(opts);
    client.start().await.unwrap();
    client
}

async fn until_answered(load: &Load, n: u64, limit: Duration) {
    let target = load.answered() + n;
    eventually(limit, "calls answered", || load.answered() >= target).await;
}

fn report(what: &str, tally: &Tally, probes: &[Probe], expect: Expect) {
    let runs: usize = probes.iter().map(Probe::started).sum();
    let twice = (runs as u64).saturating_sub(tally.sent);
    println!(
        "{what}: sent={} answered={} errored={} lost={} wrong={} run_twice={twice} {:?}",
        tally.sent,
        tally.ok,
        tally.errored(),
        tally.lost,
        tally.wrong,
        tally.errors
    );
    assert!(tally.lost <= expect.max_lost, "{what}: {tally}");
    assert_eq!(tally.wrong, 0, "{what}: {tally}");
    let refused: u64 = tally
        .errors
        .iter()
        .filter(|(e, _)| !(expect.no_server_allowed && e.starts_with("no server for service")))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 0, "{what}: {tally}");
    assert!(tally.sent >= 2_000, "{what}: too little load: {tally}");
}

/// Runs load through `fault`, waits for the sentinels' failover and for `settled` (both
/// polled with a deadline), then for 1 500 more answers and for `check`, all under load.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn failover_under_load(
    what: &str,
    set: &mut RedisSentinels,
    fault: impl FnOnce(&mut RedisSentinels),
    mut settled: impl FnMut(&mut RedisSentinels) -> bool,
    mut check: impl FnMut(&mut RedisSentinels) -> bool,
    expect: Expect,
    call_timeout: Duration,
    replicated: Replicated,
) {
    let started = Instant::now();
    let p = prefix(what);
    let probes = [Probe::default(), Probe::default()];
    let servers = [
        sentinel_server(set, &p, probes[0].clone(), replicated).await,
        sentinel_server(set, &p, probes[1].clone(), replicated).await,
    ];
    let client = sentinel_client(set, &p, replicated).await;
    let sum = client.call(arith::ADD, &AddParams { a: 1, b: 2 }).await;
    assert_eq!(sum.unwrap().sum, 3);
    let old_primary = set.current_primary_port();
    let load = Load::default();
    let run = load.run(&client, CALLERS, 5, call_timeout);
    let faults = async {
        until_answered(&load, 1_000, Duration::from_secs(30)).await;
        fault(set);
        let t = Instant::now();
        assert!(set.wait_failover(Duration::from_secs(30)), "no failover");
        eventually(Duration::from_secs(30), "failover settled", || settled(set)).await;
        let failed_over = t.elapsed();
        until_answered(&load, 1_500, Duration::from_secs(60)).await;
        eventually(Duration::from_secs(10), "check after failover", || {
            check(set)
        })
        .await;
        load.stop();
        (failed_over, t.elapsed())
    };
    let (tally, (failed_over, resumed)) = tokio::join!(run, faults);
    println!("{what}: failover in {failed_over:?}, 1 500 more calls by {resumed:?}");
    assert_ne!(set.current_primary_port(), old_primary);
    report(what, &tally, &probes, expect);
    client.stop().await;
    for s in servers {
        s.stop(Duration::from_secs(1)).await;
    }
    println!("{what}: {:?}", started.elapsed());
}

/// True when the node at `url` replicates another. Polled while the sentinels demote it, which
/// drops its clients (this probe's included): a failed probe is "not yet".
pub(crate) fn is_replica(url: String) -> bool {
    let role = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| redis::cmd("ROLE").query::<redis::Value>(&mut c));
    matches!(role, Ok(redis::Value::Array(items))
        if matches!(items.first(), Some(redis::Value::BulkString(b)) if b == b"slave"))
}
