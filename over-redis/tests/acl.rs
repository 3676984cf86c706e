//! Least-privilege ACL users, exactly as the README's "Deploying" section documents them: the
//! round trip, crash recovery (an entry left by a dead consumer is reclaimed) and dead-lettering
//! under those users; a prompt stop where `CLIENT UNBLOCK` is denied; start-time errors naming
//! the refused command or the failed authentication; presence, discovery and dead-consumer
//! removal under those users.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::testing::RedisProcess;
use clamator_over_redis::{
    codes, PresenceOptions, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
};
use support::arith::{self, AddParams, Probe};
use support::{eventually, TestKeys};

/// The README's server rule, for key prefix `acl`.
const SERVER_RULES: &str =
    "on >server-pw resetchannels ~acl:* -@all +hello +ping +time +multi +exec \
    +client|id +client|unblock +xgroup|create +xreadgroup +xack +xadd +pexpire +xautoclaim \
    +xclaim +xpending +xinfo|groups +xtrim \
    +set +del +exists +zadd +zrem +zrange +zrangebyscore +eval +xinfo|consumers +xgroup|delconsumer";
/// The README's client rule, for key prefix `acl`.
const CLIENT_RULES: &str = "on >client-pw resetchannels ~acl:* -@all +hello +ping +xadd +xread \
    +xtrim +xinfo|stream +xinfo|groups +del +time +zrange +get";

fn redis_with_users(extra: &[(&str, &str)]) -> RedisProcess {
    let mut args: Vec<String> = ["--save", "", "--appendonly", "no"]
        .map(String::from)
        .to_vec();
    for (name, rules) in [
        ("clamator-server", SERVER_RULES),
        ("clamator-client", CLIENT_RULES),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    {
        // Each rule is its own argument: redis-server joins them into one `user` line.
        args.push("--user".into());
        args.push(name.into());
        args.extend(rules.split_whitespace().map(String::from));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    RedisProcess::start_with(&args).expect("redis-server with ACL users")
}

fn url_as(redis: &RedisProcess, user: &str, password: &str) -> String {
    format!("redis://{user}:{password}@127.0.0.1:{}", redis.port())
}

fn keys_on(redis: &RedisProcess) -> TestKeys {
    // The default user (all permissions) does the test's own assertions and cleanup.
    TestKeys {
        url: redis.url(),
        prefix: "acl".into(),
    }
}

async fn server_as(
    redis: &RedisProcess,
    user: &str,
    pw: &str,
    probe: Probe,
    tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
) -> RedisRpcServer {
    let server = RedisRpcServer::new(tune(
        RedisServerOptions::new("acl").with_redis_url(url_as(redis, user, pw)),
    ));
    server.register_service(arith::service(probe)).unwrap();
    server
        .start()
        .await
        .expect("server starts under its ACL user");
    server
}

async fn client_as(redis: &RedisProcess) -> RedisRpcClient {
    let client = RedisRpcClient::new(RedisClientOptions::new("acl").with_redis_url(url_as(
        redis,
        "clamator-client",
        "client-pw",
    )));
    client
        .start()
        .await
        .expect("client starts under its ACL user");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_stop_under_the_documented_users() {
    let redis = redis_with_users(&[]);
    let _keys = keys_on(&redis);
    let server = server_as(
        &redis,
        "clamator-server",
        "server-pw",
        Probe::default(),
        |o| o,
    )
    .await;
    let client = Arc::new(client_as(&redis).await);
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.call(arith::ADD, &AddParams { a: i, b: 1 }).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().sum, i as i64 + 1);
    }
    let bad = client
        .call_raw("arith", "add", serde_json::json!({"a": "x", "b": 1}), None)
        .await
        .unwrap_err();
    assert_eq!(bad.as_rpc().unwrap().code, -32602);
    let found = client
        .discover(None)
        .await
        .expect("discover under the client user");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].instance_id, server.transport().instance_id());
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_dead_consumer_removal_under_the_documented_users() {
    let redis = redis_with_users(&[]);
    let keys = keys_on(&redis);
    let fast = |o: RedisServerOptions| {
        o.with_presence(
            PresenceOptions::new()
                .with_heartbeat(Duration::from_millis(100))
                .with_ttl(Duration::from_millis(400)),
        )
    };
    let gone = server_as(
        &redis,
        "clamator-server",
        "server-pw",
        Probe::default(),
        |o| fast(o).with_instance_id("gone"),
    )
    .await;
    let live = server_as(
        &redis,
        "clamator-server",
        "server-pw",
        Probe::default(),
        |o| fast(o).with_instance_id("live"),
    )
    .await;
    let client = client_as(&redis).await;
    let pinged = client.ping("arith", Duration::from_secs(2)).await.unwrap();
    assert_eq!(pinged.iter().filter(|p| p.alive).count(), 2, "{pinged:?}");
    gone.stop(Duration::from_secs(1)).await;
    let found = client.discover(Some("arith")).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].instance_id, "live");
    // The stopped server's consumer (nothing pending) is removed by the live one: EVAL,
    // XINFO CONSUMERS and XGROUP DELCONSUMER under the server user.
    let mut conn = keys.conn();
    let has_gone = |conn: &mut redis::Connection| {
        let info: redis::Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg("acl:cmds:arith")
            .arg("arith")
            .query(conn)
            .unwrap();
        format!("{info:?}").contains("arith:gone")
    };
    assert!(has_gone(&mut conn));
    eventually(
        Duration::from_secs(10),
        "the stopped server's consumer is removed",
        || !has_gone(&mut conn),
    )
    .await;
    // Counted just after the delete returns.
    eventually(Duration::from_secs(2), "the removal is counted", || {
        live.transport().stats().dead_consumers_removed == 1
    })
    .await;
    client.stop().await;
    live.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_of_a_dead_consumer_is_reclaimed_and_a_poison_one_dead_lettered() {
    let redis = redis_with_users(&[]);
    let keys = keys_on(&redis);
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    support::create_group(&mut conn, &stream, "arith");
    let client = Arc::new(client_as(&redis).await);
    let (c1, c2) = (client.clone(), client.clone());
    let reclaimed =
        tokio::spawn(async move { c1.call(arith::ADD, &AddParams { a: 2, b: 3 }).await });
    // Written one after the other, so the first id is the call to reclaim.
    eventually(Duration::from_secs(5), "first request written", || {
        redis::cmd("XLEN")
            .arg(&stream)
            .query::<usize>(&mut conn)
            .unwrap()
            == 1
    })
    .await;
    let poison = tokio::spawn(async move { c2.call(arith::ADD, &AddParams { a: 9, b: 9 }).await });
    eventually(Duration::from_secs(5), "both requests written", || {
        redis::cmd("XLEN")
            .arg(&stream)
            .query::<usize>(&mut conn)
            .unwrap()
            == 2
    })
    .await;
    // A consumer that read both and died; the second looks delivered too often already.
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:ghost")
        .arg("COUNT")
        .arg("2")
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    let ids: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:ghost")
        .arg("0")
        .arg(&ids[1])
        .arg("RETRYCOUNT")
        .arg("5")
        .query(&mut conn)
        .unwrap();
    let server = server_as(
        &redis,
        "clamator-server",
        "server-pw",
        Probe::default(),
        |o| {
            o.with_claim_idle(Duration::from_millis(100))
                .with_reclaim_interval(Duration::from_millis(50))
                .with_max_deliveries(5)
        },
    )
    .await;
    assert_eq!(reclaimed.await.unwrap().unwrap().sum, 5);
    let dead = poison.await.unwrap().unwrap_err();
    assert_eq!(dead.as_rpc().unwrap().code, codes::DEAD_LETTERED);
    let dead_len: usize = redis::cmd("XLEN")
        .arg(keys.key("dead:arith"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(dead_len, 1);
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_prompt_when_client_unblock_is_denied() {
    let no_unblock = SERVER_RULES.replace("+client|id +client|unblock ", "");
    let redis = redis_with_users(&[("no-unblock", &no_unblock.replace("server-pw", "nu-pw"))]);
    let _keys = keys_on(&redis);
    let server = server_as(&redis, "no-unblock", "nu-pw", Probe::default(), |o| {
        o.with_block(Duration::from_secs(10))
    })
    .await;
    let client = client_as(&redis).await;
    assert_eq!(
        client
            .call(arith::ADD, &AddParams { a: 1, b: 1 })
            .await
            .unwrap()
            .sum,
        2
    );
    let began = Instant::now();
    server.stop(Duration::from_secs(1)).await;
    // A 10 s BLOCK is not waited out (the read is abandoned; at-least-once keeps its entries).
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        began.elapsed()
    );
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_or_a_wrong_password_fails_start_naming_it() {
    let no_autoclaim = SERVER_RULES
        .replace("+xautoclaim ", "")
        .replace("server-pw", "na-pw");
    let no_xread = CLIENT_RULES
        .replace("+xread ", "")
        .replace("client-pw", "nr-pw");
    let no_presence = SERVER_RULES
        .replace("+zadd ", "")
        .replace("server-pw", "np-pw");
    let redis = redis_with_users(&[
        ("no-autoclaim", &no_autoclaim),
        ("no-xread", &no_xread),
        ("no-presence", &no_presence),
    ]);
    let _keys = keys_on(&redis);

    let server = RedisRpcServer::new(RedisServerOptions::new("acl").with_redis_url(url_as(
        &redis,
        "no-autoclaim",
        "na-pw",
    )));
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let err = server.start().await.unwrap_err().to_string();
    assert!(
        err.contains("XAUTOCLAIM") && err.contains("Deploying"),
        "{err}"
    );

    // Without the presence commands: named, with the way out; off, it starts.
    let opts =
        RedisServerOptions::new("acl").with_redis_url(url_as(&redis, "no-presence", "np-pw"));
    let server = RedisRpcServer::new(opts.clone());
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let err = server.start().await.unwrap_err().to_string();
    assert!(
        err.contains("presence") && err.contains("PresenceOptions::disabled"),
        "{err}"
    );
    let server = RedisRpcServer::new(opts.with_presence(PresenceOptions::disabled()));
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server.start().await.expect("starts without presence");
    server.stop(Duration::from_secs(1)).await;

    let client = RedisRpcClient::new(
        RedisClientOptions::new("acl").with_redis_url(url_as(&redis, "no-xread", "nr-pw")),
    );
    let err = client.start().await.unwrap_err().to_string();
    assert!(err.contains("XREAD"), "{err}");

    let began = Instant::now();
    let client = RedisRpcClient::new(RedisClientOptions::new("acl").with_redis_url(url_as(
        &redis,
        "clamator-client",
        "wrong",
    )));
    let err = client.start().await.unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("auth") || err.contains("WRONGPASS"),
        "{err}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "failed at once, not after retries"
    );
}
