//! Replicated writes (`with_replicated_writes`): a request counts as sent, and a consumer group
//! as created, only once a replica holds it. Without enough replicas `start` and calls fail
//! with the typed [`NotReplicated`] cause instead of hanging; with them, concurrent writes share
//! `WAIT`s; and behind Sentinel neither a primary SIGKILLed under steady load nor a forced
//! failover (a split brain while the old primary is demoted) loses a call (the same faults
//! without replicated writes may lose the calls in flight: `sentinel.rs`).

mod support;

use std::time::{Duration, Instant};

use clamator_over_redis::testing::RedisProcess;
use clamator_over_redis::{
    NotReplicated, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
};
use clamator_protocol::{Error, TransportError};
use support::arith::{self, AddParams, Probe};
use support::cluster::prefix;
use support::sentinel::{failover_under_load, is_replica, start_set, Expect};

fn spawn(args: &[&str]) -> RedisProcess {
    RedisProcess::start_with(args).expect("a local redis-server")
}

/// A primary and one replica in sync with it.
fn primary_with_replica() -> (RedisProcess, RedisProcess) {
    let primary = spawn(&["--save", "", "--appendonly", "no"]);
    let replica = primary.start_replica(None).expect("a local replica");
    (primary, replica)
}

fn not_replicated(e: &Error) -> Option<&NotReplicated> {
    match e {
        Error::Transport(TransportError::Backend { source, .. }) => source.downcast_ref(),
        _ => None,
    }
}

#[tokio::test]
async fn without_a_replica_start_and_calls_fail_with_not_replicated() {
    let alone = spawn(&["--save", "", "--appendonly", "no"]);
    let p = prefix("alone");
    // The server's group cannot be confirmed: start fails, naming why, within its command
    // timeout.
    let server = RedisRpcServer::new(
        RedisServerOptions::new(&p).with_connection(
            clamator_over_redis::ConnectionOptions::new()
                .with_redis_url(alone.url())
                .with_command_timeout(Duration::from_millis(400))
                .with_replicated_writes(1, Duration::from_millis(50)),
        ),
    );
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let t = Instant::now();
    let refused = server
        .start()
        .await
        .expect_err("no replica to confirm the group");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let text = refused.to_string();
    assert!(text.contains("xgroup create not replicated"), "{text}");
    assert_eq!(
        not_replicated(&refused).map(|n| (n.acked, n.wanted)),
        Some((0, 1)),
        "{refused:?}"
    );

    // A server without replicated writes serves; a client with them cannot confirm its
    // requests, and says so before the call's timeout instead of timing out.
    let plain = RedisRpcServer::new(RedisServerOptions::new(&p).with_redis_url(alone.url()));
    plain
        .register_service(arith::service(Probe::default()))
        .unwrap();
    plain.start().await.unwrap();
    let client = RedisRpcClient::new(
        RedisClientOptions::new(&p)
            .with_redis_url(alone.url())
            .with_replicated_writes(1, Duration::from_millis(100)),
    );
    client.start().await.unwrap();
    let e = client
        .call_with_timeout(
            arith::ADD,
            &AddParams { a: 1, b: 2 },
            Duration::from_secs(1),
        )
        .await
        .expect_err("no replica to confirm the request");
    assert!(!e.is_timeout(), "{e}");
    assert!(e.to_string().contains("xadd not replicated"), "{e}");
    assert_eq!(not_replicated(&e).map(|n| n.wanted), Some(1), "{e:?}");
    let e = client
        .notify(arith::RECORD, &arith::Note { text: "x".into() })
        .await
        .expect_err("no replica to confirm the notification");
    assert!(not_replicated(&e).is_some(), "{e:?}");
    client.stop().await;
    plain.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_replica_every_call_is_answered_and_concurrent_writes_share_waits() {
    let (primary, _replica) = primary_with_replica();
    let p = prefix("shared-wait");
    let replicated = (1, Duration::from_secs(1));
    let server = RedisRpcServer::new(
        RedisServerOptions::new(&p)
            .with_redis_url(primary.url())
            .with_replicated_writes(replicated.0, replicated.1),
    );
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server.start().await.unwrap();
    let client = RedisRpcClient::new(
        RedisClientOptions::new(&p)
            .with_redis_url(primary.url())
            .with_replicated_writes(replicated.0, replicated.1),
    );
    client.start().await.unwrap();
    let waits_before = support::wait_calls(&primary.url());
    const CALLERS: i64 = 64;
    const EACH: i64 = 20;
    let callers = (0..CALLERS).map(|c| {
        let client = &client;
        async move {
            for i in 0..EACH {
                let a = c * 1000 + i;
                let sum = client
                    .call(arith::ADD, &AddParams { a, b: 1 })
                    .await
                    .unwrap();
                assert_eq!(sum.sum, a + 1);
            }
        }
    });
    futures_util::future::join_all(callers).await;
    let calls = (CALLERS * EACH) as u64;
    let waits = support::wait_calls(&primary.url()) - waits_before;
    println!("{calls} calls confirmed by {waits} WAITs");
    // Every request was confirmed by some WAIT, and writers in flight together shared one.
    assert!(waits >= 1, "no WAIT ran");
    assert!(
        waits < calls,
        "{waits} WAITs for {calls} calls: no group commit"
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_under_load_loses_no_call_with_replicated_writes() {
    support::init_tracing();
    // Two replicas: after the failover the new primary still has one to confirm writes.
    let mut set = start_set(2);
    failover_under_load(
        "sentinel-kill-replicated",
        &mut set,
        |set| set.primary().kill(),
        |_| true,
        |_| true,
        Expect {
            max_lost: 0,
            no_server_allowed: false,
        },
        Duration::from_secs(30),
        Some((1, Duration::from_millis(500))),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_loses_no_call_with_replicated_writes() {
    support::init_tracing();
    let mut set = start_set(2);
    let sentinel = set.sentinel_urls()[0].clone();
    let name = set.master_name().to_owned();
    failover_under_load(
        "sentinel-demote-replicated",
        &mut set,
        move |_| {
            // The old primary stays up, writable until the sentinels demote it: without
            // replicas of its own, nothing written there is confirmed, so callers write again
            // to the new primary once it is dropped.
            let mut conn = redis::Client::open(sentinel)
                .unwrap()
                .get_connection_with_timeout(Duration::from_secs(2))
                .unwrap();
            let _: () = redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg(&name)
                .query(&mut conn)
                .unwrap();
        },
        |set| is_replica(set.primary().url()),
        |_| true,
        Expect {
            max_lost: 0,
            no_server_allowed: false,
        },
        Duration::from_secs(30),
        Some((1, Duration::from_millis(500))),
    )
    .await;
}
