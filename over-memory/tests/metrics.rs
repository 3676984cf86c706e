//! Metrics of the memory transport (feature `metrics`): calls, requests and durations, and the
//! label-cardinality bound under hostile names. Each test records into its own local recorder
//! (`metrics::with_local_recorder` around a current-thread runtime, so tasks the transport
//! spawns run on the recording thread too).

use std::collections::BTreeSet;
use std::future::Future;

use clamator_over_memory::MemoryBus;
use clamator_protocol::metrics::names;
use clamator_protocol::{Contract, Method, RpcError, Service};
use clamator_testkit::arith::{self, AddParams, Probe, ADD, DIVIDE, GATED};
use clamator_testkit::metrics::{value, Series, TestRecorder};
use serde_json::json;

/// Runs `test` on a current-thread runtime with `recorder` as the thread's recorder.
fn recorded<F: Future<Output = ()>>(recorder: &TestRecorder, test: impl FnOnce() -> F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || rt.block_on(test()));
}

/// Answers with whatever code it is asked for (an application's own codes).
const FAIL_WITH: Method<i64, ()> = Method::new("codes", "failWith");

fn codes_service() -> Service {
    let contract = Contract::builder("codes")
        .method(FAIL_WITH)
        .build()
        .unwrap();
    Service::builder(contract)
        .handle(FAIL_WITH, |code: i64| async move {
            Err::<(), _>(RpcError::new(code, "asked for"))
        })
        .build()
        .unwrap()
}

#[test]
fn calls_requests_and_durations_are_recorded() {
    let rec = TestRecorder::default();
    recorded(&rec, || async {
        let bus = MemoryBus::new();
        let probe = Probe::default();
        let server = bus.server();
        server
            .register_service(arith::service(probe.clone()))
            .unwrap();
        server.start().await.unwrap();
        let client = bus.client();
        client.start().await.unwrap();
        assert_eq!(
            client
                .call(ADD, &AddParams { a: 1, b: 2 })
                .await
                .unwrap()
                .sum,
            3
        );
        client
            .call(DIVIDE, &AddParams { a: 1, b: 0 })
            .await
            .unwrap_err();
        client
            .call_raw("arith", "nope", json!({}), None)
            .await
            .unwrap_err();
        client
            .call_raw("nobody", "add", json!({}), None)
            .await
            .unwrap_err();
        // A handler that waits is spawned: in flight while it runs, counted when it answers.
        let gated = client.call(GATED, &AddParams { a: 2, b: 2 });
        tokio::pin!(gated);
        tokio::select! {
            biased;
            _ = &mut gated => panic!("gated answered before its gate opened"),
            () = tokio::task::yield_now() => {}
        }
        assert_eq!(
            rec.value(names::SERVER_IN_FLIGHT, &[("service", "arith")]),
            1.0
        );
        probe.gate.notify_one();
        assert_eq!(gated.await.unwrap().sum, 4);
        assert_eq!(
            rec.value(names::SERVER_IN_FLIGHT, &[("service", "arith")]),
            0.0
        );
        // A notification runs as a task: counted (code `none`) once it has run.
        let note = arith::Note { text: "n".into() };
        client.notify(arith::RECORD, &note).await.unwrap();
        let record = [("method", "record"), ("code", "none")];
        for _ in 0..100 {
            if rec.value(names::SERVER_REQUESTS, &record) == 1.0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(rec.value(names::SERVER_REQUESTS, &record), 1.0);
        assert_eq!(probe.notifications(), 1);
    });
    let all = rec.series();
    let calls = |with: &[(&str, &str)]| value(&all, names::CLIENT_CALLS, with);
    assert_eq!(
        calls(&[("service", "arith"), ("method", "add"), ("outcome", "ok")]),
        1.0
    );
    assert_eq!(calls(&[("method", "divide"), ("outcome", "app")]), 1.0);
    assert_eq!(calls(&[("method", "gated"), ("outcome", "ok")]), 1.0);
    assert_eq!(calls(&[("method", "_unknown"), ("outcome", "-32601")]), 1.0);
    assert_eq!(
        calls(&[("service", "_unknown"), ("outcome", "no_server")]),
        1.0
    );
    assert_eq!(value(&all, names::CLIENT_CALL_DURATION, &[]), 5.0);
    let requests = |m: &str, c: &str| {
        value(
            &all,
            names::SERVER_REQUESTS,
            &[("service", "arith"), ("method", m), ("code", c)],
        )
    };
    assert_eq!(requests("add", "ok"), 1.0);
    assert_eq!(requests("divide", "app"), 1.0);
    assert_eq!(requests("_unknown", "-32601"), 1.0);
    assert_eq!(requests("gated", "ok"), 1.0);
    // No server for `nobody`: nothing server-side; the notification is the fifth.
    assert_eq!(value(&all, names::SERVER_REQUESTS, &[]), 5.0);
    assert_eq!(value(&all, names::SERVER_HANDLER_DURATION, &[]), 5.0);
}

/// The handles the hot path keeps are per recorder: calls made before a recorder exists (the
/// no-op one) or under another recorder do not leave later calls counted nowhere.
#[test]
fn handles_follow_the_recorder_in_effect() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let client = bus.client();
    let add = |a| {
        let client = &client;
        async move { client.call(ADD, &AddParams { a, b: 1 }).await.unwrap() }
    };
    rt.block_on(async {
        server.start().await.unwrap();
        client.start().await.unwrap();
        add(1).await;
    });
    let (first, second) = (TestRecorder::default(), TestRecorder::default());
    let ok = [("method", "add"), ("outcome", "ok")];
    let handled = [("method", "add"), ("code", "ok")];
    metrics::with_local_recorder(&first, || rt.block_on(add(2)));
    metrics::with_local_recorder(&second, || {
        rt.block_on(async {
            add(3).await;
            add(4).await
        })
    });
    metrics::with_local_recorder(&first, || rt.block_on(add(5)));
    assert_eq!(first.value(names::CLIENT_CALLS, &ok), 2.0);
    assert_eq!(first.value(names::SERVER_REQUESTS, &handled), 2.0);
    assert_eq!(second.value(names::CLIENT_CALLS, &ok), 2.0);
    assert_eq!(second.value(names::SERVER_REQUESTS, &handled), 2.0);
    assert_eq!(
        second.value(names::SERVER_IN_FLIGHT, &[("service", "arith")]),
        0.0
    );
}

/// Distinct values of label `label` among the series of `name`.
fn label_values<'a>(all: &'a [Series], name: &str, label: &str) -> BTreeSet<&'a str> {
    all.iter()
        .filter(|(n, _, _)| n == name)
        .flat_map(|(_, l, _)| {
            l.iter()
                .filter(|(k, _)| k == label)
                .map(|(_, v)| v.as_str())
        })
        .collect()
}

#[test]
fn label_sets_stay_within_the_contracts_under_random_names_and_codes() {
    const N: usize = 10_000;
    let rec = TestRecorder::default();
    recorded(&rec, || async {
        let bus = MemoryBus::new();
        let server = bus.server();
        server
            .register_service(arith::service(Probe::default()))
            .unwrap();
        server.register_service(codes_service()).unwrap();
        server.start().await.unwrap();
        let client = bus.client();
        client.start().await.unwrap();
        client.call(ADD, &AddParams { a: 1, b: 1 }).await.unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..N {
            let method = format!("m{:x}", next());
            let err = client
                .call_raw("arith", &method, json!({}), None)
                .await
                .unwrap_err();
            assert_eq!(err.as_rpc().map(|e| e.code), Some(-32601));
            // Random services (no server) and random application codes too.
            if i % 10 == 0 {
                let service = format!("s{:x}", next());
                client
                    .call_raw(&service, "x", json!({}), None)
                    .await
                    .unwrap_err();
                let code = (next() % 2_000_000) as i64 - 1_000_000;
                client.call(FAIL_WITH, &code).await.unwrap_err();
            }
        }
    });
    let all = rec.series();
    let contract_size = arith::contract().methods().len();
    let methods = label_values(&all, names::SERVER_REQUESTS, "method");
    let arith_methods: BTreeSet<&str> = all
        .iter()
        .filter(|(n, l, _)| {
            n == names::SERVER_REQUESTS && l.contains(&("service".into(), "arith".into()))
        })
        .flat_map(|(_, l, _)| {
            l.iter()
                .filter(|(k, _)| k == "method")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert!(
        arith_methods.len() <= contract_size + 1,
        "{arith_methods:?}"
    );
    assert_eq!(arith_methods, BTreeSet::from(["add", "_unknown"]));
    assert_eq!(methods, BTreeSet::from(["add", "_unknown", "failWith"]));
    let codes = label_values(&all, names::SERVER_REQUESTS, "code");
    assert_eq!(codes, BTreeSet::from(["ok", "-32601", "app"]));
    let services = label_values(&all, names::CLIENT_CALLS, "service");
    assert_eq!(services, BTreeSet::from(["arith", "codes", "_unknown"]));
    let outcomes = label_values(&all, names::CLIENT_CALLS, "outcome");
    assert_eq!(
        outcomes,
        BTreeSet::from(["ok", "-32601", "app", "no_server"])
    );
    // Every series of every metric, for 10 000 + 2 000 hostile calls.
    let total = all.len();
    eprintln!("cardinality: {total} series after {} calls", N + N / 5 + 1);
    assert!(total <= 20, "{total} series: {all:?}");
    assert_eq!(
        value(&all, names::SERVER_REQUESTS, &[("method", "_unknown")]),
        N as f64
    );
}
