//! Every metric of the Redis transport moves as it should in one scripted run on a real Redis
//! (feature `metrics`; its own test binary because the recorder must be global: the
//! transport's loops are spawned tasks, which a thread-local recorder does not reach).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::metrics::names;
use clamator_testkit::metrics::{value, Series, TestRecorder};
use serde_json::json;
use support::arith::{self, AddParams, Probe};
use support::{eventually, start_client, start_server, TestKeys};

fn series() -> Vec<Series> {
    TestRecorder::global().series()
}

fn get(name: &str, with: &[(&str, &str)]) -> f64 {
    TestRecorder::global().value(name, with)
}

fn xadd(conn: &mut redis::Connection, stream: &str, fields: &[(&str, &str)]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(*v);
    }
    cmd.query(conn).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_moves_in_one_scripted_run() {
    TestRecorder::global();
    clamator_protocol::metrics::describe();
    let keys = TestKeys::new("metrics");
    let mut conn = keys.conn();
    let stream = keys.key("cmds:arith");
    let svc = ("service", "arith");
    support::create_group(&mut conn, &stream, "arith");

    // Two entries a crashed server left pending: one delivered once (reclaimed and handled),
    // one delivered past the limit (dead-lettered).
    let note = r#"{"jsonrpc":"2.0","method":"arith.record","params":{"text":"x"}}"#;
    xadd(&mut conn, &stream, &[("type", "rpc"), ("envelope", note)]);
    xadd(&mut conn, &stream, &[("type", "rpc"), ("envelope", note)]);
    let ghost = support::ghost_read(&mut conn, &stream);
    assert_eq!(ghost.len(), 2);
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:ghost")
        .arg(0)
        .arg(&ghost[1])
        .arg("RETRYCOUNT")
        .arg(5)
        .query(&mut conn)
        .unwrap();
    // Malformed entries, as any writer could XADD them, and a request whose caller's 1 ms
    // timeout has passed long before a server reads it.
    xadd(
        &mut conn,
        &stream,
        &[("type", "rpc"), ("envelope", "{not json")],
    );
    xadd(&mut conn, &stream, &[("type", "rpc"), ("other", "x")]);
    let reply_to = keys.key("replies:gone");
    let expired = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1,"b":1},"id":"e1"}"#;
    xadd(
        &mut conn,
        &stream,
        &[
            ("type", "rpc"),
            ("envelope", expired),
            ("reply-to", reply_to.as_str()),
            ("timeout-ms", "1"),
        ],
    );
    // An integer no 64-bit type holds: the transport answers -32602 itself, before dispatch.
    let big = r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":18446744073709551616,"b":1},"id":"big"}"#;
    let big_reply_to = keys.key("replies:big");
    xadd(
        &mut conn,
        &stream,
        &[
            ("type", "rpc"),
            ("envelope", big),
            ("reply-to", big_reply_to.as_str()),
        ],
    );
    // Not synchronisation: the request's 1 ms budget (on Redis's clock) must really be over.
    tokio::time::sleep(Duration::from_millis(5)).await;

    let probe = Probe::default();
    let server = start_server(&keys, probe.clone(), |o| {
        o.with_claim_idle(Duration::from_millis(100))
            .with_reclaim_interval(Duration::from_millis(50))
            .with_max_deliveries(5)
    })
    .await;
    let client = Arc::new(start_client(&keys, |o| o).await);

    // A success, an application error, an unknown method.
    assert_eq!(
        client
            .call(arith::ADD, &AddParams { a: 1, b: 2 })
            .await
            .unwrap()
            .sum,
        3
    );
    let app = client
        .call(arith::DIVIDE, &AddParams { a: 1, b: 0 })
        .await
        .unwrap_err();
    assert_eq!(app.as_rpc().unwrap().code, arith::DIVISION_BY_ZERO);
    let missing = client
        .call_raw("arith", "nope", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(missing.as_rpc().unwrap().code, -32601);
    // Names fixed in the program (a gateway's routes) label a raw call as they are.
    let raw = client
        .call_raw_static("arith", "add", json!({"a": 2, "b": 2}), None)
        .await
        .unwrap();
    assert_eq!(raw["sum"], 4);

    let s = server.transport();
    eventually(Duration::from_secs(10), "raw entries handled", || {
        let st = s.stats();
        // The metric is recorded just after its stats counter, and a request once its handler
        // has returned: wait for the metrics themselves, not only for the stats.
        let all = series();
        st.malformed == 2
            && st.deadline_skipped == 1
            && st.dead_lettered == 1
            && st.reclaimed == 1
            && probe.notified.load(std::sync::atomic::Ordering::SeqCst) == 1
            && value(&all, names::SERVER_MALFORMED, &[svc]) == 2.0
            && value(&all, names::SERVER_DEAD_LETTERED, &[svc]) == 1.0
            && value(&all, names::SERVER_RECLAIMED, &[svc]) == 1.0
            && value(&all, names::SERVER_SKIPPED_EXPIRED, &[svc]) == 1.0
            && value(&all, names::SERVER_REQUESTS, &[("method", "record")]) == 1.0
            && value(&all, names::SERVER_REQUESTS, &[("code", "-32602")]) == 1.0
    })
    .await;

    let all = series();
    let client_calls =
        |m: &str, o: &str| value(&all, names::CLIENT_CALLS, &[("method", m), ("outcome", o)]);
    assert_eq!(
        client_calls("add", "ok"),
        2.0,
        "a typed call and a static raw one"
    );
    assert_eq!(client_calls("divide", "app"), 1.0);
    assert_eq!(
        client_calls("_unknown", "-32601"),
        1.0,
        "raw names are not labels"
    );
    assert_eq!(value(&all, names::CLIENT_CALL_DURATION, &[]), 4.0);
    let requests = |m: &str, c: &str| {
        value(
            &all,
            names::SERVER_REQUESTS,
            &[svc, ("method", m), ("code", c)],
        )
    };
    assert_eq!(requests("add", "ok"), 2.0);
    assert_eq!(
        requests("add", "-32602"),
        1.0,
        "refused at the envelope, under its method"
    );
    assert_eq!(requests("divide", "app"), 1.0);
    assert_eq!(requests("_unknown", "-32601"), 1.0);
    assert_eq!(
        requests("record", "none"),
        1.0,
        "the reclaimed notification"
    );
    // The refusal ran no handler: no duration.
    assert_eq!(value(&all, names::SERVER_HANDLER_DURATION, &[svc]), 5.0);
    assert_eq!(value(&all, names::SERVER_IN_FLIGHT, &[svc]), 0.0);
    // The transport's own events, equal to its stats (same event points).
    let st = s.stats();
    assert_eq!(value(&all, names::SERVER_DEAD_LETTERED, &[svc]), 1.0);
    assert_eq!(
        value(&all, names::SERVER_RECLAIMED, &[svc]),
        st.reclaimed as f64
    );
    assert_eq!(value(&all, names::SERVER_SKIPPED_EXPIRED, &[svc]), 1.0);
    assert_eq!(
        value(&all, names::SERVER_MALFORMED, &[svc]),
        st.malformed as f64
    );
    assert_eq!(
        value(
            &all,
            names::SERVER_MALFORMED,
            &[("reason", "invalid_envelope")]
        ),
        1.0
    );
    assert_eq!(
        value(&all, names::SERVER_MALFORMED, &[("reason", "no_envelope")]),
        1.0
    );
    assert_eq!(value(&all, names::REDIS_RECONNECTS, &[]), 0.0);

    // A handler held open: in flight and pending go up, then back to 0 when it returns.
    let c = client.clone();
    let gated = tokio::spawn(async move { c.call(arith::GATED, &AddParams { a: 2, b: 2 }).await });
    eventually(Duration::from_secs(5), "one handler in flight", || {
        get(names::SERVER_IN_FLIGHT, &[svc]) == 1.0
    })
    .await;
    eventually(Duration::from_secs(5), "pending sampled at 1", || {
        get(names::GROUP_PENDING, &[svc]) == 1.0
    })
    .await;
    probe.gate.notify_one();
    assert_eq!(gated.await.unwrap().unwrap().sum, 4);
    eventually(
        Duration::from_secs(5),
        "pending and lag sampled at 0",
        || {
            let all = series();
            value(&all, names::GROUP_PENDING, &[svc]) == 0.0
                && value(&all, names::SERVER_IN_FLIGHT, &[svc]) == 0.0
                && all.iter().any(|(n, l, v)| {
                    n == names::GROUP_LAG
                        && l.contains(&("service".into(), "arith".into()))
                        && *v == 0.0
                })
        },
    )
    .await;

    // Every connection of both sides killed: each reconnects, and calls go on.
    let killed: i64 = support::kill_normal_clients(&mut conn);
    assert!(killed >= 4, "killed {killed} connections");
    let sum = client
        .call_with_timeout(
            arith::ADD,
            &AddParams { a: 5, b: 5 },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(sum.sum, 10);
    eventually(Duration::from_secs(10), "every connection reopened", || {
        let all = series();
        ["shared", "server_reader", "client_reader"]
            .iter()
            .all(|c| value(&all, names::REDIS_RECONNECTS, &[("connection", c)]) >= 1.0)
    })
    .await;
    assert_eq!(
        get(names::CLIENT_CALLS, &[("method", "add"), ("outcome", "ok")]),
        3.0
    );

    // Nothing outside the fixed label sets, and every name is one of `names::ALL`.
    let all = series();
    let seen: BTreeSet<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
    for n in &seen {
        assert!(names::ALL.contains(n), "unlisted metric {n}");
    }
    assert_eq!(
        seen.len(),
        names::ALL.len(),
        "every metric recorded: {seen:?}"
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}
