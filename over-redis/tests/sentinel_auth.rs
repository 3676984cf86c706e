//! A Sentinel-watched master that requires a password, in a file of its own so its five
//! processes do not run beside the failover tests' (on two cores that slows their failovers).

mod support;

use std::time::Duration;

use clamator_over_redis::testing::RedisSentinels;
use clamator_over_redis::{
    ConnectionOptions, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
};
use support::arith::{self, AddParams, Probe};
use support::cluster::prefix;

fn start_set() -> RedisSentinels {
    RedisSentinels::start().expect("a local Sentinel deployment (redis-server --sentinel)")
}

/// A master behind Sentinel that requires a password (`requirepass` on both data nodes, the
/// sentinels told with `SENTINEL SET … auth-pass`): without the master credentials `start()`
/// fails at once; with them calls are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_protected_master_needs_the_master_credentials() {
    const PASSWORD: &str = "sentinel-master-secret";
    let mut set = start_set();
    let name = set.master_name().to_owned();
    for url in set.sentinel_urls() {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("SENTINEL")
            .arg("SET")
            .arg(&name)
            .arg("auth-pass")
            .arg(PASSWORD)
            .query(&mut c)
            .unwrap();
    }
    for url in [set.replica().url(), set.primary().url()] {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        for (key, value) in [("masterauth", PASSWORD), ("requirepass", PASSWORD)] {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(key)
                .arg(value)
                .query(&mut c)
                .unwrap();
        }
    }
    let p = prefix("sentinel-auth");
    let connection = |with_password: bool| {
        let c = ConnectionOptions::new().with_sentinel(set.sentinel_urls(), &name);
        if with_password {
            c.with_sentinel_master_password(PASSWORD)
        } else {
            c
        }
    };

    let refused =
        RedisRpcServer::new(RedisServerOptions::new(&p).with_connection(connection(false)));
    refused
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let err = refused.start().await.expect_err("no password, no start");
    println!("without the master password: {err}");

    let server = RedisRpcServer::new(RedisServerOptions::new(&p).with_connection(connection(true)));
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server
        .start()
        .await
        .expect("served with the master password");
    let client = RedisRpcClient::new(RedisClientOptions::new(&p).with_connection(connection(true)));
    client.start().await.unwrap();
    for i in 0..200 {
        let sum = client
            .call(arith::ADD, &AddParams { a: i, b: 1 })
            .await
            .unwrap();
        assert_eq!(sum.sum, i + 1);
    }
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[test]
fn master_credentials_without_sentinel_are_refused() {
    let err = ConnectionOptions::new()
        .with_redis_url("redis://127.0.0.1:1")
        .with_sentinel_master_password("x")
        .validate()
        .unwrap_err();
    assert!(
        err.to_string().contains("sentinel master credentials"),
        "{err}"
    );
}
