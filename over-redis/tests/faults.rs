//! Faults injected into a real Redis under steady load: every call whose caller still waits is
//! answered. Each test runs its own `redis-server` so it can kill, reload or reconfigure it.

mod support;

use std::time::{Duration, Instant};

use clamator_over_redis::{RedisClientOptions, RedisRpcClient};
use clamator_protocol::{Error, TransportError};
use redis::Commands;
use support::arith::{self, AddParams, Probe, SlowParams};
use support::load::Load;
use support::{eventually, start_client, start_server, RedisProcess, TestKeys};

fn info_field(conn: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg(section).query(conn).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// Waits until Redis answers commands (not `LOADING`).
async fn until_loaded(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "Redis did not finish loading");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `load` has answered `n` more calls than now.
async fn until_answered(load: &Load, n: u64) {
    let target = load.answered() + n;
    eventually(Duration::from_secs(20), "calls answered", || {
        load.answered() >= target
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_and_aof_reload_under_load_loses_no_call() {
    let dir = std::env::temp_dir().join(format!("clamator-aof-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.to_str().unwrap().to_owned();
    let mut redis = RedisProcess::start_with(&[
        "--dir",
        &dir_arg,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--enable-debug-command",
        "yes",
    ]);
    let keys = TestKeys::on(redis.url(), "aof");
    // A dataset that takes a while to load, so the restarted Redis answers LOADING for a
    // while (the case that used to drop replies of finished handlers).
    let mut conn = keys.conn();
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(1_500_000)
        .arg("filler")
        .arg(64)
        .query(&mut conn)
        .unwrap();
    let _: () = redis::cmd("BGREWRITEAOF").query(&mut conn).unwrap();
    eventually(Duration::from_secs(60), "AOF rewrite", || {
        info_field(&mut conn, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(&mut conn, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    })
    .await;
    drop(conn);

    let server = start_server(&keys, Probe::default(), |o| o).await;
    let client = start_client(&keys, |o| o).await;
    let load = Load::default();
    let run = load.run(&client, 64, 100, Duration::from_secs(30));
    let faults = async {
        until_answered(&load, 200).await;
        redis.kill();
        let restarted = Instant::now();
        redis.start_again();
        until_loaded(&redis.url()).await;
        let reloaded = restarted.elapsed();
        until_answered(&load, 500).await;
        load.stop();
        reloaded
    };
    let (tally, reloaded) = tokio::join!(run, faults);
    println!("aof reload ({reloaded:?}): {tally}");
    assert!(tally.sent > 700, "{tally}");
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.wrong, 0, "{tally}");
    assert_eq!(tally.errored(), 0, "{tally}");
    assert!(
        server.transport().stats().commit_retries > 0,
        "the outage never hit a commit: {:?}",
        server.transport().stats()
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_kill_storm_under_load_loses_no_call() {
    let redis = RedisProcess::start();
    let keys = TestKeys::on(redis.url(), "storm");
    let server = start_server(&keys, Probe::default(), |o| o).await;
    let client = start_client(&keys, |o| o).await;
    let load = Load::default();
    let run = load.run(&client, 32, 20, Duration::from_secs(15));
    let storm = async {
        until_answered(&load, 100).await;
        let mut killer = keys.conn();
        let mut killed = 0i64;
        for _ in 0..40 {
            killed += redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .arg("SKIPME")
                .arg("yes")
                .query::<i64>(&mut killer)
                .unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await; // the storm's own rhythm
        }
        until_answered(&load, 100).await;
        load.stop();
        killed
    };
    let (tally, killed) = tokio::join!(run, storm);
    println!("kill storm ({killed} connections killed): {tally}");
    assert!(killed >= 40, "killed {killed}");
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.wrong, 0, "{tally}");
    assert_eq!(tally.errored(), 0, "{tally}");
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_callers_lose_no_reply() {
    let redis = RedisProcess::start();
    let keys = TestKeys::on(redis.url(), "twok");
    // Default options: replies capped at MAXLEN ~ 1024, as every clamator server caps them.
    let server = start_server(&keys, Probe::default(), |o| o).await;
    let client = start_client(&keys, |o| o).await;
    let load = Load::default();
    let run = load.run(&client, 2_000, 0, Duration::from_secs(30));
    let stop = async {
        until_answered(&load, 40_000).await;
        load.stop();
    };
    let (tally, ()) = tokio::join!(run, stop);
    println!("2 000 callers: {tally}");

    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.wrong, 0, "{tally}");
    assert_eq!(tally.errored(), 0, "{tally}");
    assert_eq!(client.transport().stats().replies_lost, 0);
    // Read replies are deleted: what is left in the reply stream is at most what was unread.
    let left: usize = keys.conn().xlen(client.transport().reply_stream()).unwrap();
    assert!(left <= 1024, "{left} replies left in the reply stream");
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

/// A server that caps reply streams far below the client's calls in flight (a peer's
/// hard-coded cap does the same to a client that raised its limit): replies trimmed unread
/// fail their calls at once with `reply lost`, never with a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_trimmed_unread_fail_their_calls_at_once() {
    // Small stream nodes make `MAXLEN ~` trim almost exactly.
    let redis = RedisProcess::start_with(&[
        "--save",
        "",
        "--appendonly",
        "no",
        "--stream-node-max-entries",
        "2",
    ]);
    let keys = TestKeys::on(redis.url(), "gap");
    let server = start_server(&keys, Probe::default(), |o| {
        o.with_reply_stream_max_len(2)
            .with_max_concurrent_handlers(512)
    })
    .await;
    let client = start_client(&keys, |o| o.with_max_in_flight(5_000)).await;
    let client: &RedisRpcClient = &client;
    let calls = (0..3_000).map(|a| async move {
        let started = Instant::now();
        let r = client
            .call_with_timeout(
                arith::SLOW_ADD,
                &SlowParams { a, b: 1, ms: 50 },
                Duration::from_secs(20),
            )
            .await;
        (a, r, started.elapsed())
    });
    let results = futures_util::future::join_all(calls).await;
    let (mut ok, mut lost_replies, mut slowest_lost) = (0, 0, Duration::ZERO);
    for (a, r, took) in results {
        match r {
            Ok(sum) => {
                assert_eq!(sum.sum, a + 1);
                ok += 1;
            }
            Err(Error::Transport(TransportError::ReplyLost(_))) => {
                lost_replies += 1;
                slowest_lost = slowest_lost.max(took);
            }
            Err(e) => panic!("call {a} failed otherwise: {e}"),
        }
    }
    println!("trimmed replies: ok={ok} reply_lost={lost_replies} slowest report={slowest_lost:?}");
    assert!(lost_replies > 0, "the cap never bit (ok={ok})");
    assert_eq!(client.transport().stats().replies_lost, lost_replies);
    // Reported well before the 20 s timeout.
    assert!(slowest_lost < Duration::from_secs(8), "{slowest_lost:?}");
    server.stop(Duration::from_secs(1)).await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reply_to_is_refused_and_nothing_else_is_touched() {
    let keys = TestKeys::new("deputy");
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    let dead = keys.key("dead:arith");
    let outside = format!("{}-outside", keys.prefix);
    let foreign = format!("{}-other:replies:x", keys.prefix);
    let _: () = conn.set(&outside, "precious").unwrap();
    let _: String = conn.xadd(&foreign, "*", &[("k", "v")]).unwrap();
    // The group exists (so clients do not fail fast) but no server runs yet: requests queue.
    support::create_group(&mut conn, &stream, "arith");
    let request = r#"{"jsonrpc":"2.0","id":"h1","method":"arith.add","params":{"a":1,"b":2}}"#;
    let own_prefix = keys.key("replies:");
    let hostile: Vec<Vec<u8>> = vec![
        stream.clone().into_bytes(),
        dead.clone().into_bytes(),
        outside.clone().into_bytes(),
        foreign.clone().into_bytes(),
        own_prefix.clone().into_bytes(),
        b"\xff\xfe".to_vec(),
        Vec::new(),
    ];
    for to in &hostile {
        let _: String = redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("type")
            .arg("rpc")
            .arg("envelope")
            .arg(request)
            .arg("reply-to")
            .arg(to.as_slice())
            .query(&mut conn)
            .unwrap();
    }
    // 1 500 valid calls queue behind them: more than the 1 024 a reply write to the command
    // stream (with its MAXLEN ~ 1024) would have trimmed away.
    let client = start_client(&keys, |o| o.with_max_in_flight(2_000)).await;
    let client = &client;
    let calls = futures_util::future::join_all((0..1_500).map(|a| async move {
        let r = client
            .call_with_timeout(arith::ADD, &AddParams { a, b: 1 }, Duration::from_secs(30))
            .await;
        (a, r)
    }));
    let start_later = async {
        eventually(Duration::from_secs(20), "1 500 requests queued", || {
            let n: usize = keys.conn().xlen(&stream).unwrap_or(0);
            n >= 1_500 + hostile.len()
        })
        .await;
        start_server(&keys, Probe::default(), |o| o).await
    };
    let (results, server) = tokio::join!(calls, start_later);
    for (a, r) in results {
        assert_eq!(r.unwrap().sum, a + 1, "call {a}");
    }
    assert_eq!(server.transport().stats().malformed, hostile.len() as u64);
    let value: String = conn.get(&outside).unwrap();
    assert_eq!(value, "precious");
    let ttl: i64 = conn.ttl(&outside).unwrap();
    assert_eq!(ttl, -1, "a key outside the prefix got an expiry");
    let foreign_len: usize = conn.xlen(&foreign).unwrap();
    assert_eq!(foreign_len, 1);
    assert_eq!(conn.ttl::<_, i64>(&foreign).unwrap(), -1);
    assert_eq!(
        conn.ttl::<_, i64>(&stream).unwrap(),
        -1,
        "command stream expiry"
    );
    assert!(
        !conn.exists::<_, bool>(&dead).unwrap(),
        "dead-letter stream written"
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    let _: () = conn.del(&[&outside, &foreign]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_group_check_reports_its_real_cause() {
    let keys = TestKeys::new("cause");
    let user = format!("u-{}", &keys.prefix);
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .arg("-xinfo")
        .query(&mut keys.conn())
        .unwrap();
    let url = keys.url.replace("redis://", &format!("redis://{user}:pw@"));
    let limited = TestKeys {
        url,
        prefix: keys.prefix.clone(),
    };
    // Refused at start now (the preflight probes XINFO GROUPS), and still for its real cause:
    // not "no server", but the denied command.
    let client =
        RedisRpcClient::new(RedisClientOptions::new(&limited.prefix).with_redis_url(&limited.url));
    let err = client.start().await.unwrap_err();
    assert!(
        !matches!(err, Error::Transport(TransportError::NoServer { .. })),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("XINFO"), "{text}");
    assert!(text.to_ascii_uppercase().contains("NOPERM"), "{text}");
    std::mem::forget(limited); // its keys are `keys`' keys
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query(&mut keys.conn())
        .unwrap();
}
