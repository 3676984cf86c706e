//! Crash recovery, reclaiming, dead-lettering and stream bounds, on a real Redis.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use clamator_over_redis::codes;
use redis::Commands;
use support::arith::{self, AddParams, Probe, SlowParams};
use support::{eventually, start_client, start_server, TestKeys};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const CHILD_ENV: &str = "CLAMATOR_REDIS_TEST_CHILD_SERVER";

/// Not a test of its own: when re-executed by `a_server_killed_mid_handler_loses_no_call` with
/// `CLAMATOR_REDIS_TEST_CHILD_SERVER=<url>|<prefix>`, this process becomes that test's server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_server_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (url, prefix) = spec.split_once('|').expect("url|prefix");
    let keys = TestKeys::on(url.to_owned(), "child");
    let keys = TestKeys {
        url: keys.url.clone(),
        prefix: prefix.to_owned(),
    };
    let (tx, mut started) = mpsc::unbounded_channel();
    let probe = Probe {
        slow_started: Some(tx),
        ..Probe::default()
    };
    let _server = start_server(&keys, probe, |o| o).await;
    println!("CHILD READY");
    while started.recv().await.is_some() {
        println!("CHILD IN HANDLER");
    }
    std::mem::forget(keys); // the parent cleans up
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_handler_loses_no_call() {
    let keys = TestKeys::new("sigkill");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{}", keys.url, keys.prefix))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = async |marker: &str| {
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(marker) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "child never printed {marker}");
    };
    wait_for("CHILD READY").await;
    let client = Arc::new(start_client(&keys, |o| o).await);
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.call_with_timeout(
            arith::SLOW_ADD,
            &SlowParams {
                a: 20,
                b: 22,
                ms: 1_000,
            },
            Duration::from_secs(30),
        )
        .await
    });
    wait_for("CHILD IN HANDLER").await;
    child.kill().await.unwrap(); // SIGKILL: no stop, no ack
    let probe = Probe::default();
    let second = start_server(&keys, probe.clone(), |o| {
        o.with_claim_idle(Duration::from_millis(500))
            .with_reclaim_interval(Duration::from_millis(100))
    })
    .await;
    let sum = call.await.unwrap().expect("the second server answers");
    assert_eq!(sum.sum, 42);
    assert_eq!(second.transport().stats().reclaimed, 1);
    assert_eq!(probe.started(), 1);
    client.stop().await;
    second.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_server_keeps_its_long_running_entries() {
    let keys = TestKeys::new("refresh");
    let tune = |o: clamator_over_redis::RedisServerOptions| {
        o.with_claim_idle(Duration::from_millis(300))
            .with_reclaim_interval(Duration::from_millis(50))
    };
    let (pa, pb) = (Probe::default(), Probe::default());
    let a = start_server(&keys, pa.clone(), tune).await;
    let b = start_server(&keys, pb.clone(), tune).await;
    let client = start_client(&keys, |o| o).await;
    let sum = client
        .call(
            arith::SLOW_ADD,
            &SlowParams {
                a: 1,
                b: 2,
                ms: 1_500,
            },
        )
        .await
        .unwrap();
    assert_eq!(sum.sum, 3);
    assert_eq!(pa.started() + pb.started(), 1, "ran more than once");
    let (sa, sb) = (a.transport().stats(), b.transport().stats());
    assert_eq!(sa.reclaimed + sb.reclaimed, 0);
    assert!(sa.refreshed + sb.refreshed >= 3, "{sa:?} {sb:?}");
    client.stop().await;
    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_delivered_too_often_goes_to_the_dead_letter_stream() {
    let keys = TestKeys::new("poison");
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    support::create_group(&mut conn, &stream, "arith");
    let client = Arc::new(start_client(&keys, |o| o).await);
    let c = client.clone();
    let call = tokio::spawn(async move { c.call(arith::ADD, &AddParams { a: 1, b: 1 }).await });
    eventually(Duration::from_secs(5), "request written", || {
        conn.xlen::<_, usize>(&stream).unwrap() == 1
    })
    .await;
    let ids = support::ghost_read(&mut conn, &stream);
    // As if it had been delivered 5 times and crashed its server each time.
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:ghost")
        .arg(0)
        .arg(&ids[0])
        .arg("RETRYCOUNT")
        .arg(5)
        .query(&mut conn)
        .unwrap();
    let probe = Probe::default();
    let server = start_server(&keys, probe.clone(), |o| {
        o.with_claim_idle(Duration::from_millis(100))
            .with_reclaim_interval(Duration::from_millis(50))
            .with_max_deliveries(5)
    })
    .await;
    let err = call.await.unwrap().unwrap_err();
    let rpc = err.as_rpc().expect("rpc error");
    assert_eq!(rpc.code, codes::DEAD_LETTERED);
    assert_eq!(rpc.data["deliveries"], 6);
    assert_eq!(probe.started(), 0);
    // Counted once the pipeline that also carried the reply has returned.
    eventually(Duration::from_secs(5), "dead-letter counted", || {
        server.transport().stats().dead_lettered == 1
    })
    .await;
    let dead: redis::streams::StreamRangeReply = conn.xrange_all(keys.key("dead:arith")).unwrap();
    let fields = &dead.ids[0].map;
    for f in [
        "type",
        "envelope",
        "reply-to",
        "timeout-ms",
        "dead-reason",
        "dead-entry-id",
        "dead-deliveries",
    ] {
        assert!(
            fields.contains_key(f),
            "dead-letter entry lacks {f}: {fields:?}"
        );
    }
    let xp: (i64,) = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("arith")
        .query::<redis::Value>(&mut conn)
        .map(|v| match v {
            redis::Value::Array(a) => (redis::from_redis_value_ref(&a[0]).unwrap(),),
            _ => (-1,),
        })
        .unwrap();
    assert_eq!(xp.0, 0);
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_follows_the_cursor_and_skips_deleted_entries() {
    let keys = TestKeys::new("cursor");
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    support::create_group(&mut conn, &stream, "arith");
    for i in 0..80 {
        let env =
            format!(r#"{{"jsonrpc":"2.0","method":"arith.record","params":{{"text":"n{i}"}}}}"#);
        let _: String = conn
            .xadd(&stream, "*", &[("type", "rpc"), ("envelope", env.as_str())])
            .unwrap();
    }
    let ids = support::ghost_read(&mut conn, &stream);
    assert_eq!(ids.len(), 80);
    let _: i64 = conn.xdel(&stream, &[&ids[3]]).unwrap();
    let probe = Probe::default();
    // 16 handler slots: several XAUTOCLAIM pages per pass.
    let server = start_server(&keys, probe.clone(), |o| {
        o.with_claim_idle(Duration::from_millis(100))
            .with_reclaim_interval(Duration::from_millis(50))
            .with_max_concurrent_handlers(16)
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "79 reclaimed entries handled",
        || probe.started() == 79 && server.transport().stats().acked == 79,
    )
    .await;
    let stats = server.transport().stats();
    assert_eq!(stats.reclaimed, 79);
    assert_eq!(stats.deleted_pending, 1);
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_never_removes_pending_or_unread_entries() {
    let keys = TestKeys::new("trim");
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    support::create_group(&mut conn, &stream, "arith");
    let note = r#"{"jsonrpc":"2.0","method":"arith.record","params":{"text":"x"}}"#;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..3 {
        ids.push(conn.xadd(&stream, "*", &[("envelope", note)]).unwrap());
    }
    support::ghost_read(&mut conn, &stream);
    // A peer acknowledged 1 and 3 without deleting them; 2 is still pending.
    let _: i64 = conn.xack(&stream, "arith", &[&ids[0], &ids[2]]).unwrap();
    // Another group that has read nothing yet after entry 3.
    support::create_group(&mut conn, &stream, "audit");
    ids.push(conn.xadd(&stream, "*", &[("envelope", note)]).unwrap());
    let server = start_server(&keys, Probe::default(), |o| {
        o.with_reclaim_interval(Duration::from_millis(50))
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "entry 1 trimmed, entry 4 handled",
        || {
            let left: redis::streams::StreamRangeReply = conn.xrange_all(&stream).unwrap();
            let left: Vec<String> = left.ids.into_iter().map(|i| i.id).collect();
            server.transport().stats().acked == 1 && !left.contains(&ids[0])
        },
    )
    .await;
    let left: redis::streams::StreamRangeReply = conn.xrange_all(&stream).unwrap();
    let left: Vec<String> = left.ids.into_iter().map(|i| i.id).collect();
    // 2 is pending, 4 is unread by `audit`: both stay.
    assert_eq!(left, ids[1..].to_vec());
    server.stop(Duration::from_secs(1)).await;
}
