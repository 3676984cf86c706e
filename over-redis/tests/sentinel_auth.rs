//! A Sentinel-watched master that requires a password, and least-privilege ACL users behind
//! Sentinel, in a file of their own so their processes do not run beside the failover tests'
//! (on two cores that slows their failovers).

mod support;

use std::time::Duration;

use clamator_over_redis::testing::RedisSentinels;
use clamator_over_redis::{
    ConnectionOptions, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
};
use support::acl::{rules, set_user, Role};
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

/// The README's least-privilege users behind Sentinel: the data nodes' users with `+role`,
/// the sentinels' own user with `+role +sentinel|masters` (and nothing else). Calls are served
/// under exactly those users; without `+role` (master) or `+sentinel|masters` (sentinels)
/// `start()` fails naming the denied command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_users_serve_behind_sentinel() {
    let mut set = start_set();
    let name = set.master_name().to_owned();
    let p = prefix("sentinel-acl");
    for url in [set.primary().url(), set.replica().url()] {
        set_user(
            &url,
            "clamator-server",
            &rules(&p, "server-pw", Role::Server, &["+role"]),
        );
        set_user(
            &url,
            "clamator-client",
            &rules(&p, "client-pw", Role::Client, &["+role"]),
        );
        set_user(&url, "no-role", &rules(&p, "no-role-pw", Role::Server, &[]));
    }
    let sentinel_rules: Vec<String> = ["on", ">sentinel-pw", "-@all", "+role", "+sentinel|masters"]
        .map(String::from)
        .to_vec();
    let sentinels: Vec<String> = set
        .sentinel_urls()
        .into_iter()
        .inspect(|url| set_user(url, "clamator-sentinel", &sentinel_rules))
        .map(|url| url.replacen("redis://", "redis://clamator-sentinel:sentinel-pw@", 1))
        .collect();
    let connection = |user: &str, password: &str| {
        ConnectionOptions::new()
            .with_sentinel(sentinels.clone(), &name)
            .with_sentinel_master_user(user, password)
    };

    let refused = RedisRpcServer::new(
        RedisServerOptions::new(&p).with_connection(connection("no-role", "no-role-pw")),
    );
    refused
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let err = refused.start().await.expect_err("no +role, no start");
    assert!(
        err.to_string().contains("'role'"),
        "names the denied command: {err}"
    );
    // The sentinels' user without `+sentinel|masters`: the master cannot be found.
    let blind: Vec<String> = set
        .sentinel_urls()
        .into_iter()
        .inspect(|url| {
            set_user(
                url,
                "no-masters",
                &["on", ">nm-pw", "-@all", "+role"].map(String::from),
            );
        })
        .map(|url| url.replacen("redis://", "redis://no-masters:nm-pw@", 1))
        .collect();
    let lost = RedisRpcClient::new(
        RedisClientOptions::new(&p).with_connection(
            ConnectionOptions::new()
                .with_sentinel(blind, &name)
                .with_sentinel_master_user("clamator-client", "client-pw"),
        ),
    );
    let err = lost
        .start()
        .await
        .expect_err("no +sentinel|masters, no master");
    assert!(
        err.to_string().contains("'sentinel|masters'"),
        "names the denied command: {err}"
    );

    let server = support::serve(
        RedisServerOptions::new(&p).with_connection(connection("clamator-server", "server-pw")),
        "served under the documented server user",
    )
    .await;
    let client = support::connect_client(
        RedisClientOptions::new(&p).with_connection(connection("clamator-client", "client-pw")),
        "the documented client user starts",
    )
    .await;
    support::concurrent_adds(&client, 200, 1).await;
    assert_eq!(client.discover(Some("arith")).await.unwrap().len(), 1);
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
