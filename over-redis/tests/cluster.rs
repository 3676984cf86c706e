//! The transport on a real local Redis Cluster (3 primaries + 3 replicas): every round-trip
//! outcome, a worker pool, crash recovery, dead letters, reconnects, a slot migration under
//! load (one shared cluster), and a primary SIGKILLed under load (a cluster of its own).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_over_redis::testing::RedisCluster;
use clamator_over_redis::{RedisClientOptions, RedisRpcClient};
use clamator_protocol::{codes, Error, TransportError};
use redis::Commands;
use serde_json::json;
use support::acl::{rules, set_user, Role};
use support::arith::{self, AddParams, Note, Probe, SlowParams, Sum};
use support::cluster::{cluster_client, cluster_conn, cluster_server, prefix};
use support::eventually;
use support::load::{Load, Tally};
use tokio::sync::mpsc;

fn start_cluster() -> RedisCluster {
    RedisCluster::start().expect("a local Redis Cluster (redis-server + redis-cli)")
}

/// Waits until `load` has answered `n` more calls than now.
async fn until_answered(load: &Load, n: u64, limit: Duration) {
    let target = load.answered() + n;
    eventually(limit, "calls answered", || load.answered() >= target).await;
}

/// A prefix whose command stream and this client's reply stream sit on different primaries,
/// so replies and acks of one commit always cross nodes.
fn prefix_across_nodes(cluster: &mut RedisCluster, name: &str) -> String {
    loop {
        let p = prefix(name);
        let cmds = cluster.primary_of(&format!("{p}:cmds:arith")).unwrap();
        let dead = cluster.primary_of(&format!("{p}:dead:arith")).unwrap();
        if cmds != dead {
            return p;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_cluster_serves_recovers_dead_letters_reconnects_and_reshards() {
    support::init_tracing();
    let started = Instant::now();
    let mut cluster = start_cluster();
    let seeds = cluster.seed_urls();
    println!("cluster up in {:?}", started.elapsed());
    every_outcome_round_trips(&mut cluster, &seeds).await;
    a_pool_of_servers_shares_the_work(&seeds).await;
    a_crashed_server_is_reclaimed(&seeds).await;
    a_poison_entry_is_dead_lettered(&mut cluster, &seeds).await;
    calls_work_again_after_every_node_kills_its_clients(&mut cluster, &seeds).await;
    a_slot_migration_under_load_loses_no_call(&mut cluster, &seeds).await;
    replicated_writes_wait_on_every_node_they_write(&mut cluster, &seeds).await;
    least_privilege_users_serve_on_a_cluster(&mut cluster, &seeds).await;
    println!("shared cluster test: {:?}", started.elapsed());
}

async fn every_outcome_round_trips(cluster: &mut RedisCluster, seeds: &[String]) {
    let p = prefix_across_nodes(cluster, "outcomes");
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let probe = Probe {
        notes: Some(notes_tx),
        ..Probe::default()
    };
    let server = cluster_server(seeds, &p, probe, |o| {
        o.with_handler_timeout(Some(Duration::from_millis(200)))
    })
    .await;
    let client = cluster_client(seeds, &p, |o| o).await;
    let reply_node = cluster
        .primary_of(client.transport().reply_stream())
        .unwrap();
    let cmds_node = cluster.primary_of(&format!("{p}:cmds:arith")).unwrap();
    println!("command stream on node {cmds_node}, reply stream on node {reply_node}");

    let sum = client
        .call(arith::ADD, &AddParams { a: 2, b: 3 })
        .await
        .unwrap();
    assert_eq!(sum, Sum { sum: 5 });
    let err = client
        .call(arith::DIVIDE, &AddParams { a: 1, b: 0 })
        .await
        .unwrap_err();
    let rpc = err.as_rpc().expect("rpc error");
    assert_eq!(
        (rpc.code, rpc.message.as_str()),
        (-32000, "division by zero")
    );
    let err = client
        .call_raw("arith", "nope", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, codes::METHOD_NOT_FOUND);
    let err = client
        .call_raw("arith", "add", json!({"a": "x", "b": 1}), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().unwrap().code, codes::INVALID_PARAMS);
    // The handler outlives the server's handler timeout: a transport-code answer.
    let err = client
        .call(
            arith::SLOW_ADD,
            &SlowParams {
                a: 1,
                b: 1,
                ms: 2_000,
            },
        )
        .await
        .unwrap_err();
    assert!(err.as_rpc().is_some(), "{err:?}");
    // The caller's own timeout, with no answer coming in time.
    let err = client
        .call_with_timeout(
            arith::SLOW_ADD,
            &SlowParams {
                a: 1,
                b: 1,
                ms: 150,
            },
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    client
        .notify(
            arith::RECORD,
            &Note {
                text: "on a cluster".into(),
            },
        )
        .await
        .unwrap();
    let note = tokio::time::timeout(Duration::from_secs(5), notes.recv())
        .await
        .expect("notification delivered")
        .unwrap();
    assert_eq!(note, "on a cluster");
    // Every entry was answered and acknowledged: nothing pending on the command stream.
    let mut conn = cluster_conn(seeds);
    eventually(Duration::from_secs(5), "all entries acknowledged", || {
        pending(&mut conn, &format!("{p}:cmds:arith")) == 0
    })
    .await;
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

fn pending(conn: &mut redis::cluster::ClusterConnection, stream: &str) -> i64 {
    match redis::cmd("XPENDING").arg(stream).arg("arith").query(conn) {
        Ok(redis::Value::Array(a)) => redis::from_redis_value_ref(&a[0]).unwrap(),
        other => panic!("XPENDING {stream}: {other:?}"),
    }
}

async fn a_pool_of_servers_shares_the_work(seeds: &[String]) {
    let p = prefix("pool");
    let probes: Vec<Probe> = (0..3).map(|_| Probe::default()).collect();
    let mut servers = Vec::new();
    for probe in &probes {
        servers.push(cluster_server(seeds, &p, probe.clone(), |o| o).await);
    }
    // Two clients (their reply streams hash to, most likely, different nodes); the second on
    // an injected cluster client.
    let injected = redis::cluster::ClusterClient::new(seeds.to_vec()).unwrap();
    let clients = [cluster_client(seeds, &p, |o| o).await, {
        let opts = RedisClientOptions::new(&p).with_cluster_client(injected);
        let client = RedisRpcClient::new(opts);
        client.start().await.unwrap();
        client
    }];
    let calls = (0..600i64).map(|a| {
        let client = &clients[(a % 2) as usize];
        async move {
            client
                .call(arith::SLOW_ADD, &SlowParams { a, b: 1, ms: 5 })
                .await
                .map(|s| s.sum == a + 1)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(|r| matches!(r, Ok(true))), "{results:?}");
    let runs: Vec<usize> = probes.iter().map(Probe::started).collect();
    println!("pool of 3 servers on a cluster: runs per server {runs:?}");
    assert_eq!(runs.iter().sum::<usize>(), 600);
    assert!(runs.iter().all(|&r| r >= 30), "work not shared: {runs:?}");
    for c in clients {
        c.stop().await;
    }
    for s in servers {
        s.stop(Duration::from_secs(1)).await;
    }
}

async fn a_crashed_server_is_reclaimed(seeds: &[String]) {
    let p = prefix("crash");
    // The first server runs on a runtime of its own: shutting it down mid-handler is a crash
    // (no ack, connections dropped).
    let (in_handler_tx, in_handler) = std::sync::mpsc::channel();
    let (crash_tx, crash) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let seeds_owned = seeds.to_vec();
    let p_owned = p.clone();
    let doomed = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (slow_tx, mut slow_rx) = mpsc::unbounded_channel();
        let probe = Probe {
            slow_started: Some(slow_tx),
            ..Probe::default()
        };
        let server = rt.block_on(cluster_server(&seeds_owned, &p_owned, probe, |o| o));
        ready_tx.send(()).unwrap();
        rt.block_on(async { slow_rx.recv().await });
        in_handler_tx.send(()).unwrap();
        crash.recv().unwrap();
        std::mem::forget(server);
        rt.shutdown_background();
    });
    ready.await.unwrap();
    let client = Arc::new(cluster_client(seeds, &p, |o| o).await);
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
    tokio::task::spawn_blocking(move || in_handler.recv().unwrap())
        .await
        .unwrap();
    crash_tx.send(()).unwrap();
    doomed.join().unwrap();
    let probe = Probe::default();
    let second = cluster_server(seeds, &p, probe.clone(), |o| {
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

async fn a_poison_entry_is_dead_lettered(cluster: &mut RedisCluster, seeds: &[String]) {
    let p = prefix_across_nodes(cluster, "poison");
    let stream = format!("{p}:cmds:arith");
    let mut conn = cluster_conn(seeds);
    support::create_group(&mut conn, &stream, "arith");
    let client = Arc::new(cluster_client(seeds, &p, |o| o).await);
    let c = client.clone();
    let call = tokio::spawn(async move { c.call(arith::ADD, &AddParams { a: 1, b: 1 }).await });
    eventually(Duration::from_secs(5), "request written", || {
        conn.xlen::<_, usize>(&stream).unwrap() == 1
    })
    .await;
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:ghost")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut conn)
        .unwrap();
    let id = reply.keys[0].ids[0].id.clone();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:ghost")
        .arg(0)
        .arg(&id)
        .arg("RETRYCOUNT")
        .arg(5)
        .query(&mut conn)
        .unwrap();
    let probe = Probe::default();
    let server = cluster_server(seeds, &p, probe.clone(), |o| {
        o.with_claim_idle(Duration::from_millis(100))
            .with_reclaim_interval(Duration::from_millis(50))
            .with_max_deliveries(5)
    })
    .await;
    let err = call.await.unwrap().unwrap_err();
    let rpc = err.as_rpc().expect("rpc error");
    assert_eq!(rpc.code, clamator_over_redis::codes::DEAD_LETTERED);
    assert_eq!(probe.started(), 0);
    let dead: redis::streams::StreamRangeReply =
        conn.xrange_all(format!("{p}:dead:arith")).unwrap();
    assert_eq!(dead.ids.len(), 1);
    assert!(dead.ids[0].map.contains_key("dead-reason"));
    eventually(Duration::from_secs(5), "dead letter acknowledged", || {
        pending(&mut conn, &stream) == 0
    })
    .await;
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

/// With replicated writes each request waits for its replica on the command stream's node and
/// each reply on the reply stream's node (before the acknowledgement on another node).
async fn replicated_writes_wait_on_every_node_they_write(
    cluster: &mut RedisCluster,
    seeds: &[String],
) {
    let p = prefix_across_nodes(cluster, "replicated");
    let waits = |seeds: &[String]| seeds.iter().map(|u| support::wait_calls(u)).sum::<u64>();
    let before = waits(seeds);
    let one_replica = Duration::from_secs(1);
    let server = cluster_server(seeds, &p, Probe::default(), |o| {
        o.with_replicated_writes(1, one_replica)
    })
    .await;
    let client = cluster_client(seeds, &p, |o| o.with_replicated_writes(1, one_replica)).await;
    const CALLS: i64 = 200;
    support::concurrent_adds(&client, CALLS, 1).await;
    // A caller reads its reply as soon as it is written, before the server's `WAIT` for it
    // ran: count once the server has drained (its stop awaits every commit).
    client.stop().await;
    server.stop(Duration::from_secs(5)).await;
    let ran = waits(seeds) - before;
    // One per reply at least (they are not shared on a cluster), plus the requests'.
    assert!(ran > CALLS as u64, "{ran} WAITs for {CALLS} calls");
}

/// `seeds` with `user:password@` in each URL.
fn as_user(seeds: &[String], user: &str, password: &str) -> Vec<String> {
    seeds
        .iter()
        .map(|u| u.replacen("redis://", &format!("redis://{user}:{password}@"), 1))
        .collect()
}

/// The documented least-privilege users, set on every node (ACLs are per node, not
/// propagated): calls whose command and dead-letter streams sit on different nodes, a
/// notification and discovery all work under them; a client user without `+cluster|slots`
/// cannot start.
async fn least_privilege_users_serve_on_a_cluster(cluster: &mut RedisCluster, seeds: &[String]) {
    let p = prefix_across_nodes(cluster, "acl");
    for i in 0..cluster.len() {
        let url = cluster.node(i).url();
        for (user, user_rules) in [
            (
                "clamator-server",
                rules(&p, "server-pw", Role::Server, &["+cluster|slots"]),
            ),
            (
                "clamator-client",
                rules(&p, "client-pw", Role::Client, &["+cluster|slots"]),
            ),
            ("no-slots", rules(&p, "no-slots-pw", Role::Client, &[])),
        ] {
            set_user(&url, user, &user_rules);
        }
    }
    let probe = Probe::default();
    let server_seeds = as_user(seeds, "clamator-server", "server-pw");
    let server = cluster_server(&server_seeds, &p, probe.clone(), |o| o).await;
    let client_seeds = as_user(seeds, "clamator-client", "client-pw");
    let client = cluster_client(&client_seeds, &p, |o| o).await;
    support::concurrent_adds(&client, 100, 1).await;
    client
        .notify(arith::RECORD, &Note { text: "acl".into() })
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the notification handled", || {
        probe.notified.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let found = client.discover(Some("arith")).await.unwrap();
    assert_eq!(
        found.len(),
        1,
        "the server's presence, written under its user"
    );
    let denied = RedisRpcClient::new(RedisClientOptions::new(&p).with_cluster_urls(as_user(
        seeds,
        "no-slots",
        "no-slots-pw",
    )));
    let err = denied
        .start()
        .await
        .expect_err("a client user without +cluster|slots cannot learn the slot map");
    assert!(
        err.to_string().contains("cluster|slots"),
        "names the denied command: {err}"
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

async fn calls_work_again_after_every_node_kills_its_clients(
    cluster: &mut RedisCluster,
    seeds: &[String],
) {
    let p = prefix("kill");
    let server = cluster_server(seeds, &p, Probe::default(), |o| o).await;
    let client = cluster_client(seeds, &p, |o| o).await;
    let sum = client.call(arith::ADD, &AddParams { a: 1, b: 1 }).await;
    assert_eq!(sum.unwrap().sum, 2);
    let mut killed = 0i64;
    for i in 0..cluster.len() {
        let url = cluster.node(i).url();
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        killed += redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .arg("SKIPME")
            .arg("yes")
            .query::<i64>(&mut c)
            .unwrap();
    }
    assert!(killed >= 4, "killed {killed} connections");
    let sum = client
        .call_with_timeout(
            arith::ADD,
            &AddParams { a: 2, b: 2 },
            Duration::from_secs(10),
        )
        .await;
    // On failure, say which side did not come back (its loop errors and reconnects).
    let sum = sum.unwrap_or_else(|e| {
        panic!(
            "no answer after every node killed its clients: {e}\nclient: {:?}\nserver: {:?}",
            client.transport().stats(),
            server.transport().stats()
        )
    });
    assert_eq!(sum.sum, 4);
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

/// How many handler runs exceeded the calls made (a call run twice counts once here).
fn run_twice(probes: &[Probe], tally: &Tally) -> u64 {
    let runs: usize = probes.iter().map(Probe::started).sum();
    (runs as u64).saturating_sub(tally.sent)
}

fn assert_no_call_lost(what: &str, tally: &Tally, twice: u64) {
    println!(
        "{what}: sent={} answered={} errored={} lost={} wrong={} run_twice={twice} {:?}",
        tally.sent,
        tally.ok,
        tally.errored(),
        tally.lost,
        tally.wrong,
        tally.errors
    );
    assert_eq!(tally.lost, 0, "{what}: {tally}");
    assert_eq!(tally.wrong, 0, "{what}: {tally}");
    // Errors are only typed transport errors returned to the caller.
    assert!(tally.sent >= 2_000, "{what}: too little load: {tally}");
}

async fn a_slot_migration_under_load_loses_no_call(cluster: &mut RedisCluster, seeds: &[String]) {
    let p = prefix("reshard");
    let stream = format!("{p}:cmds:arith");
    let slot = cluster.slot_of(&stream).unwrap();
    let from = cluster.primary_of_slot(slot).unwrap();
    let to = (0..cluster.len())
        .find(|&i| {
            i != from && cluster.primary_of_slot(slot).ok() != Some(i) && is_primary(cluster, i)
        })
        .expect("another primary");
    let probes = [Probe::default(), Probe::default()];
    let servers = [
        cluster_server(seeds, &p, probes[0].clone(), |o| o).await,
        cluster_server(seeds, &p, probes[1].clone(), |o| o).await,
    ];
    let client = cluster_client(seeds, &p, |o| o).await;
    let load = Load::default();
    let run = load.run(&client, 32, 5, Duration::from_secs(20));
    let migrate = async {
        until_answered(&load, 1_000, Duration::from_secs(30)).await;
        let t = Instant::now();
        cluster.migrate_slot(slot, to).unwrap();
        let took = t.elapsed();
        until_answered(&load, 1_500, Duration::from_secs(30)).await;
        load.stop();
        took
    };
    let (tally, took) = tokio::join!(run, migrate);
    assert_eq!(cluster.primary_of_slot(slot).unwrap(), to, "the slot moved");
    println!("slot {slot} of the command stream moved from node {from} to node {to} in {took:?}");
    assert_no_call_lost("reshard", &tally, run_twice(&probes, &tally));
    assert_eq!(tally.errored(), 0, "{tally}");
    client.stop().await;
    for s in servers {
        s.stop(Duration::from_secs(1)).await;
    }
}

fn is_primary(cluster: &mut RedisCluster, i: usize) -> bool {
    let url = cluster.node(i).url();
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let role: redis::Value = redis::cmd("ROLE").query(&mut c).unwrap();
    matches!(role, redis::Value::Array(items) if matches!(items.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
}

/// A primary SIGKILLed under steady load, with replicated writes (`WAIT 1`): its replica is
/// promoted and no waiting call is lost. Each primary has two replicas, so the promoted one
/// still has a replica to confirm writes (with one, every write to its slots would fail with
/// `NotReplicated` until the dead node came back). Without replicated writes an asynchronous
/// replica may be promoted without the last acknowledged requests (or even the consumer
/// group): see `tests/sentinel.rs` for that baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_under_load_loses_no_waiting_call() {
    support::init_tracing();
    let started = Instant::now();
    let mut cluster =
        RedisCluster::start_with(3, 2).expect("a local Redis Cluster (redis-server + redis-cli)");
    let seeds = cluster.seed_urls();
    let p = prefix("failover");
    let stream = format!("{p}:cmds:arith");
    let victim = cluster.primary_of(&stream).unwrap();
    let confirm = Duration::from_millis(500);
    let probes = [Probe::default(), Probe::default()];
    let servers = [
        cluster_server(&seeds, &p, probes[0].clone(), |o| {
            o.with_claim_idle(Duration::from_secs(2))
                .with_replicated_writes(1, confirm)
        })
        .await,
        cluster_server(&seeds, &p, probes[1].clone(), |o| {
            o.with_claim_idle(Duration::from_secs(2))
                .with_replicated_writes(1, confirm)
        })
        .await,
    ];
    let client: RedisRpcClient =
        cluster_client(&seeds, &p, |o| o.with_replicated_writes(1, confirm)).await;
    assert!(cluster.wait_replicas_synced(Duration::from_secs(20)));
    let load = Load::default();
    let run = load.run(&client, 32, 5, Duration::from_secs(30));
    let fault = async {
        until_answered(&load, 1_000, Duration::from_secs(30)).await;
        cluster.node(victim).kill();
        let killed = Instant::now();
        until_answered(&load, 2_000, Duration::from_secs(60)).await;
        let resumed = killed.elapsed();
        load.stop();
        resumed
    };
    let (tally, resumed) = tokio::join!(run, fault);
    println!("primary {victim} SIGKILLed; 2 000 more calls answered {resumed:?} later");
    assert_no_call_lost("cluster failover", &tally, run_twice(&probes, &tally));
    // The promoted replica now owns the command stream's slot.
    assert_ne!(cluster.primary_of(&stream).unwrap(), victim);
    client.stop().await;
    for s in servers {
        s.stop(Duration::from_secs(1)).await;
    }
    println!("failover test: {:?}", started.elapsed());
}

#[tokio::test]
async fn cluster_options_that_cannot_work_are_refused_by_start() {
    let client = RedisRpcClient::new(
        RedisClientOptions::new("p")
            .with_redis_url("redis://127.0.0.1:1")
            .with_cluster_urls(["redis://127.0.0.1:2"]),
    );
    let err = client.start().await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport(TransportError::Config(m)) if m.contains("cluster_urls")),
        "{err:?}"
    );
    let empty = RedisClientOptions::new("p").with_cluster_urls(Vec::<String>::new());
    assert!(empty.validate().is_err());
}
