//! Presence and discovery on a real Redis: `discover()` / `ping()` following servers that start,
//! are SIGKILLed (a real child process) and stop; dead consumers removed only when nothing is
//! pending; the opt-in "no subscriber" line.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clamator_over_redis::{PresenceOptions, RedisServerOptions};
use clamator_protocol::Instance;
use redis::Commands;
use support::arith::{self, AddParams, Empty, Probe};
use support::load::Load;
use support::{start_client, start_server, TestKeys};
use tokio::io::{AsyncBufReadExt, BufReader};

const CHILD_ENV: &str = "CLAMATOR_DISCOVERY_TEST_CHILD";
const HEARTBEAT: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_millis(1_000);

fn fast_presence(o: RedisServerOptions) -> RedisServerOptions {
    o.with_presence(
        PresenceOptions::new()
            .with_heartbeat(HEARTBEAT)
            .with_ttl(TTL),
    )
}

/// Polls an async condition every 20 ms until it holds or `limit` passes (then fails).
async fn until<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(instances: &[Instance]) -> BTreeSet<String> {
    instances.iter().map(|i| i.instance_id.clone()).collect()
}

/// Not a test of its own: re-executed by the tests below with `CLAMATOR_DISCOVERY_TEST_CHILD=
/// <url>|<prefix>|<instance-id>`, this process becomes a server that can be SIGKILLed. It
/// installs no tracing subscriber and opts in to the "no subscriber" line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_server_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (Some(url), Some(prefix), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let keys = TestKeys {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
    };
    let _server = start_server(&keys, Probe::default(), |o| {
        fast_presence(o)
            .with_instance_id(id)
            .with_report_missing_subscriber(true)
    })
    .await;
    println!("CHILD READY");
    std::mem::forget(keys); // the parent cleans up
    std::future::pending::<()>().await;
}

struct Child {
    process: tokio::process::Child,
    stderr: tokio::process::ChildStderr,
}

async fn spawn_child(keys: &TestKeys, id: &str) -> Child {
    let mut process = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_server_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{}|{id}", keys.url, keys.prefix))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("CHILD READY") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "child server never started");
    let stderr = process.stderr.take().unwrap();
    Child { process, stderr }
}

fn consumers(keys: &TestKeys) -> BTreeMap<String, i64> {
    let rows: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(keys.key("cmds:arith"))
        .arg("arith")
        .query(&mut keys.conn())
        .unwrap();
    rows.iter()
        .map(|row| {
            let map: BTreeMap<String, redis::Value> = redis::from_redis_value_ref(row).unwrap();
            let name: String = redis::from_redis_value_ref(&map["name"]).unwrap();
            let pending: i64 = redis::from_redis_value_ref(&map["pending"]).unwrap();
            (name, pending)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_then_one_after_a_sigkill_then_none_after_a_stop() {
    let keys = TestKeys::new("discover");
    let child_id = format!("child-{}", uuid::Uuid::new_v4());
    let mut child = spawn_child(&keys, &child_id).await;
    let child_pid = child.process.id().unwrap();
    let local = start_server(&keys, Probe::default(), |o| {
        fast_presence(o).with_instance_id("local")
    })
    .await;
    let client = start_client(&keys, |o| o).await;

    // Both are listed, with what they serve and who they are.
    let both: BTreeSet<String> = [child_id.clone(), "local".to_owned()].into();
    let found = client.discover(Some("arith")).await.unwrap();
    assert_eq!(ids(&found), both);
    let remote = found.iter().find(|i| i.instance_id == child_id).unwrap();
    assert_eq!(remote.pid, child_pid);
    assert_eq!(remote.service, "arith");
    assert_eq!(remote.version, env!("CARGO_PKG_VERSION"));
    assert!(!remote.host.is_empty());
    assert_eq!(remote.ttl_ms, 1_000);
    let add = remote.methods.iter().find(|m| m.name == "add").unwrap();
    assert_eq!(add.kind, "request");
    let record = remote.methods.iter().find(|m| m.name == "record").unwrap();
    assert_eq!(record.kind, "notification");
    assert_eq!(remote.methods.len(), arith::contract().methods().len());
    let everything = client.discover(None).await.unwrap();
    assert_eq!(
        ids(&everything),
        both,
        "discover(None) finds the service itself"
    );

    // Load shows up in the records: 40 calls and 3 failures, over both instances.
    for i in 0..40 {
        let sum = client
            .call(arith::ADD, &AddParams { a: i, b: 1 })
            .await
            .unwrap();
        assert_eq!(sum.sum, i + 1);
    }
    for _ in 0..3 {
        assert!(client.call(arith::FAIL, &Empty {}).await.is_err());
    }
    until(
        Duration::from_secs(5),
        "handled and errors published",
        || async {
            let found = client.discover(Some("arith")).await.unwrap();
            let handled: u64 = found.iter().map(|i| i.handled).sum();
            let errors: u64 = found.iter().map(|i| i.errors).sum();
            handled == 43 && errors == 3
        },
    )
    .await;

    let pinged = client.ping("arith", Duration::from_secs(2)).await.unwrap();
    assert_eq!(pinged.len(), 2);
    assert!(pinged.iter().all(|p| p.alive), "{pinged:?}");
    assert!(pinged
        .iter()
        .all(|p| p.heartbeat_age_ms.is_some_and(|a| a < 1_000)));

    // SIGKILL: no stop, no withdrawal. Listed until its TTL passes, then gone.
    child.process.kill().await.unwrap();
    let killed_at = Instant::now();
    until(
        Duration::from_secs(10),
        "the killed server disappears",
        || async {
            ids(&client.discover(Some("arith")).await.unwrap())
                == BTreeSet::from(["local".to_owned()])
        },
    )
    .await;
    let gone_after = killed_at.elapsed();
    assert!(
        gone_after >= TTL - HEARTBEAT * 2,
        "gone after {gone_after:?}: it should have lived out its TTL"
    );
    let pinged = client.ping("arith", Duration::from_secs(2)).await.unwrap();
    let dead = pinged.iter().find(|p| p.instance_id == child_id);
    if let Some(dead) = dead {
        // Still remembered (its consumer not removed yet): reported dead.
        assert!(!dead.alive);
        assert_eq!(dead.heartbeat_age_ms, None);
    }
    assert!(pinged.iter().any(|p| p.instance_id == "local" && p.alive));

    // The killed server had nothing pending: the live one removes its consumer.
    let dead_consumer = format!("arith:{child_id}");
    until(
        Duration::from_secs(10),
        "the dead consumer is removed",
        || async { !consumers(&keys).contains_key(&dead_consumer) },
    )
    .await;
    assert!(consumers(&keys).contains_key("arith:local"));
    // Counted just after the delete returns.
    until(Duration::from_secs(2), "the removal is counted", || async {
        local.transport().stats().dead_consumers_removed == 1
    })
    .await;
    until(
        Duration::from_secs(5),
        "the dead instance is forgotten",
        || async {
            let pinged = client.ping("arith", Duration::from_secs(2)).await.unwrap();
            pinged.iter().all(|p| p.instance_id != child_id)
        },
    )
    .await;

    // Its stderr had the opt-in line: the child installed no subscriber.
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr, &mut stderr)
        .await
        .unwrap();
    assert_eq!(
        stderr.matches("no tracing subscriber is installed").count(),
        1,
        "stderr: {stderr}"
    );

    // A stop withdraws at once: no waiting for the TTL.
    local.stop(Duration::from_secs(1)).await;
    assert!(client.discover(Some("arith")).await.unwrap().is_empty());
    assert!(client.discover(None).await.unwrap().is_empty());
    let pinged = client.ping("arith", Duration::from_secs(2)).await.unwrap();
    assert!(pinged.iter().all(|p| !p.alive), "{pinged:?}");
    client.stop().await;
}

/// The removal's safety under load: a server SIGKILLed with entries in flight leaves them
/// pending on its consumer; the consumer must outlive them (reclaimed by the live server), or
/// their callers would never be answered. The claim idle (4 s) is longer than the TTL plus a
/// removal pass (2 s), so removal passes run while the entries are still pending: a removal
/// that ignored them would lose calls. Every call is answered, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_loses_no_call_and_its_consumer_goes_after_the_reclaim() {
    let keys = TestKeys::new("killload");
    let child_id = format!("child-{}", uuid::Uuid::new_v4());
    let mut child = spawn_child(&keys, &child_id).await;
    let local = start_server(&keys, Probe::default(), |o| {
        fast_presence(o)
            .with_instance_id("local")
            .with_claim_idle(Duration::from_millis(4_000))
            .with_reclaim_interval(Duration::from_millis(100))
    })
    .await;
    let client = start_client(&keys, |o| o).await;
    let load = Load::default();
    let run = load.run(&client, 32, 20, Duration::from_secs(20));
    let dead_consumer = format!("arith:{child_id}");
    let faults = async {
        until(Duration::from_secs(10), "traffic flows", || async {
            load.answered() >= 300
        })
        .await;
        child.process.kill().await.unwrap();
        until(
            Duration::from_secs(10),
            "the killed server disappears",
            || async { client.discover(Some("arith")).await.unwrap().len() == 1 },
        )
        .await;
        until(
            Duration::from_secs(20),
            "the dead consumer is removed",
            || async { !consumers(&keys).contains_key(&dead_consumer) },
        )
        .await;
        let at_removal = load.answered();
        until(Duration::from_secs(10), "traffic continues", || async {
            load.answered() >= at_removal + 300
        })
        .await;
        load.stop();
    };
    let (tally, ()) = tokio::join!(run, faults);
    println!("sigkill under load: {tally}");
    assert!(tally.sent > 600, "{tally}");
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(tally.wrong, 0, "{tally}");
    assert_eq!(tally.errored(), 0, "{tally}");
    let stats = local.transport().stats();
    assert!(
        stats.reclaimed > 0,
        "the child held entries when killed: {stats:?}"
    );
    assert_eq!(stats.dead_consumers_removed, 1);
    client.stop().await;
    local.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumer_goes_only_once_nothing_is_pending() {
    let keys = TestKeys::new("prune");
    let stream = keys.key("cmds:arith");
    let index = keys.key("presence:arith");
    let mut conn = keys.conn();
    support::create_group(&mut conn, &stream, "arith");
    // Four consumers. Three once published presence here (expired index members): one with
    // nothing pending, one holding an entry, one whose record is back (it restarted with the
    // same id). The fourth never did (a Python peer): never a candidate, whatever its state.
    for c in [
        "arith:dead-idle",
        "arith:dead-busy",
        "arith:came-back",
        "arith:python-peer",
    ] {
        let _: i64 = redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg(&stream)
            .arg("arith")
            .arg(c)
            .query(&mut conn)
            .unwrap();
    }
    let _: String = conn.xadd(&stream, "*", &[("type", "rpc")]).unwrap();
    let read: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:dead-busy")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    assert!(!matches!(read, redis::Value::Nil));
    for id in ["dead-idle", "dead-busy", "came-back"] {
        let _: i64 = conn.zadd(&index, id, 1).unwrap();
    }
    let _: () = conn
        .set_ex(keys.key("presence:arith:came-back"), "{}", 30)
        .unwrap();
    assert_eq!(consumers(&keys)["arith:dead-busy"], 1);
    // Let the consumers be idle longer than the removal's bound (TTL / 2).
    tokio::time::sleep(TTL / 2 + Duration::from_millis(50)).await;

    let server = start_server(&keys, Probe::default(), |o| {
        fast_presence(o).with_instance_id("live")
    })
    .await;
    until(
        Duration::from_secs(10),
        "the idle dead consumer is removed",
        || async { !consumers(&keys).contains_key("arith:dead-idle") },
    )
    .await;
    // The same pass looked at the others (one page of expired members) and kept them.
    let left = consumers(&keys);
    assert_eq!(left.get("arith:dead-busy"), Some(&1), "{left:?}");
    assert!(left.contains_key("arith:came-back"), "{left:?}");
    assert!(left.contains_key("arith:python-peer"), "{left:?}");
    assert!(left.contains_key("arith:live"), "{left:?}");
    let members: Vec<String> = conn.zrange(&index, 0, -1).unwrap();
    assert!(!members.contains(&"dead-idle".to_owned()));
    assert!(members.contains(&"dead-busy".to_owned()));

    // Once its entry is acknowledged (as a reclaim would), the busy one goes too.
    let pending: redis::streams::StreamPendingReply = conn.xpending(&stream, "arith").unwrap();
    let id = match pending {
        redis::streams::StreamPendingReply::Data(d) => d.start_id,
        other => panic!("nothing pending: {other:?}"),
    };
    let _: i64 = conn.xack(&stream, "arith", &[id]).unwrap();
    until(
        Duration::from_secs(10),
        "the drained dead consumer is removed",
        || async { !consumers(&keys).contains_key("arith:dead-busy") },
    )
    .await;
    let left = consumers(&keys);
    assert!(left.contains_key("arith:came-back"), "{left:?}");
    assert!(left.contains_key("arith:python-peer"), "{left:?}");
    until(
        Duration::from_secs(2),
        "both removals are counted",
        || async { server.transport().stats().dead_consumers_removed == 2 },
    )
    .await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_presence_publishes_nothing_and_ping_respects_its_deadline() {
    // A private Redis: the test pauses it.
    let private = support::RedisProcess::start();
    let keys = TestKeys::on(private.url(), "nopresence");
    let server = start_server(&keys, Probe::default(), |o| {
        o.with_presence(PresenceOptions::disabled())
    })
    .await;
    let client = start_client(&keys, |o| o).await;
    let sum = client
        .call(arith::ADD, &AddParams { a: 1, b: 2 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 3);
    assert!(client.discover(None).await.unwrap().is_empty());
    let exists: bool = keys.conn().exists(keys.key("presence")).unwrap();
    assert!(!exists);
    // Redis stops answering for 2 s: ping gives up at its deadline with a timeout, rather than
    // hanging or answering "nobody".
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(2_000)
        .arg("ALL")
        .query(&mut keys.conn())
        .unwrap();
    let began = Instant::now();
    let err = client
        .ping("arith", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        began.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        began.elapsed()
    );
    server.stop(Duration::from_secs(1)).await;
    client.stop().await;
}
