//! Every loop survives dropped connections and a Redis restart. Each test runs its own
//! `redis-server` so it can kill connections or restart it without disturbing other tests.

mod support;

use std::time::Duration;

use support::arith::{self, AddParams, Probe};
use support::{start_client, start_server, RedisProcess, TestKeys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_work_again_after_client_kill() {
    let redis = RedisProcess::start();
    let keys = TestKeys::on(redis.url(), "kill");
    let server = start_server(&keys, Probe::default(), |o| o).await;
    let client = start_client(&keys, |o| o).await;
    assert_eq!(
        client
            .call(arith::ADD, &AddParams { a: 1, b: 1 })
            .await
            .unwrap()
            .sum,
        2
    );
    let killed: i64 = support::kill_normal_clients(&mut keys.conn());
    assert!(killed >= 4, "killed {killed} connections");
    // Writes, the reply reader and the consumer loop all reconnect on their own.
    let sum = client
        .call_with_timeout(
            arith::ADD,
            &AddParams { a: 2, b: 2 },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(sum.sum, 4);
    assert!(server.transport().stats().loop_errors >= 1);
    assert!(client.transport().stats().loop_errors >= 1);
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_work_again_after_a_redis_restart() {
    let mut redis = RedisProcess::start();
    let keys = TestKeys::on(redis.url(), "restart");
    let server = start_server(&keys, Probe::default(), |o| o).await;
    let client = start_client(&keys, |o| o).await;
    assert_eq!(
        client
            .call(arith::ADD, &AddParams { a: 1, b: 1 })
            .await
            .unwrap()
            .sum,
        2
    );
    redis.restart(); // all data, including the consumer group, is gone
    let sum = client
        .call_with_timeout(
            arith::ADD,
            &AddParams { a: 3, b: 4 },
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(sum.sum, 7);
    assert!(server.transport().stats().loop_errors >= 1);
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}
