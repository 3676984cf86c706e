//! End-to-end behaviour of the memory transport (spec §5) and of the cores' lifecycles.

use std::sync::Arc;
use std::time::Duration;

use clamator_over_memory::{MemoryBus, MemoryRpcClient, MemoryRpcServer};
use clamator_protocol::{
    codes, Contract, Error, Method, NotificationMethod, RpcError, Service, State, TransportError,
};
use clamator_testkit::arith::{
    self, AddParams, Note, Probe, SlowParams, Sum, ADD, DIVIDE, GATED, RECORD, SLOW_ADD,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Serialize, Deserialize)]
struct Ping {
    tag: Option<String>,
}

/// The client's typed view of the shared service's raw echo.
const RAW_TYPED: Method<Ping, Value> = Method::new("arith", "raw");
/// A typed echo: `None` fields omitted, `null` and absent accepted.
const ECHO_PING: Method<Ping, Ping> = Method::new("echo", "ping");

struct World {
    bus: MemoryBus,
    server: MemoryRpcServer,
    client: MemoryRpcClient,
    probe: Probe,
}

fn echo_service() -> Service {
    let contract = Contract::builder("echo").method(ECHO_PING).build().unwrap();
    Service::builder(contract)
        .handle(ECHO_PING, |p: Ping| async move { Ok::<_, RpcError>(p) })
        .build()
        .unwrap()
}

async fn world() -> World {
    let bus = MemoryBus::new();
    let probe = Probe::default();
    let server = bus.server();
    server
        .register_service(arith::service(probe.clone()))
        .unwrap();
    server.register_service(echo_service()).unwrap();
    server.start().await.unwrap();
    let client = bus.client();
    client.start().await.unwrap();
    World {
        bus,
        server,
        client,
        probe,
    }
}

fn rpc(err: Error) -> RpcError {
    match err {
        Error::Rpc(e) => e,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_call_round_trip() {
    let w = world().await;
    let sum = w.client.call(ADD, &AddParams { a: 2, b: 3 }).await.unwrap();
    assert_eq!(sum, Sum { sum: 5 });
}

#[tokio::test]
async fn handler_rpc_error_reaches_the_caller_exactly() {
    let w = world().await;
    let err = w.client.call(DIVIDE, &AddParams { a: 1, b: 0 }).await;
    assert_eq!(
        rpc(err.unwrap_err()),
        RpcError::new(-32000, "division by zero")
    );
}

#[tokio::test]
async fn invalid_params_carry_a_loc_path() {
    let w = world().await;
    let err = w
        .client
        .call_raw("arith", "add", json!({"a":"two","b":3}), None)
        .await
        .unwrap_err();
    let err = rpc(err);
    assert_eq!(err.code, codes::INVALID_PARAMS);
    assert_eq!(err.data["errors"][0]["loc"], json!(["a"]));
}

#[tokio::test]
async fn unknown_service_is_no_server_and_unknown_method_is_method_not_found() {
    let w = world().await;
    let err = w.client.call_raw("nobody", "add", json!({}), None).await;
    assert_eq!(
        err.unwrap_err().to_string(),
        "no server for service \"nobody\""
    );
    let err = w.client.call_raw("arith", "nope", json!({}), None).await;
    assert_eq!(rpc(err.unwrap_err()), RpcError::method_not_found());
}

#[tokio::test]
async fn invalid_names_fail_before_sending() {
    let w = world().await;
    let err = w.client.call_raw("Arith", "add", json!({}), None).await;
    assert_eq!(err.unwrap_err().to_string(), "invalid service \"Arith\"");
    let err = w.client.notify_raw("arith", "slow-add", json!({})).await;
    assert_eq!(err.unwrap_err().to_string(), "invalid method \"slow-add\"");
}

#[tokio::test]
async fn none_fields_are_omitted_on_the_wire_and_null_is_accepted() {
    let w = world().await;
    let seen = w.client.call(RAW_TYPED, &Ping { tag: None }).await.unwrap();
    assert_eq!(seen, json!({}), "None params field omitted");
    let seen = w
        .client
        .call(
            RAW_TYPED,
            &Ping {
                tag: Some("x".into()),
            },
        )
        .await;
    assert_eq!(seen.unwrap(), json!({"tag":"x"}));
    for params in [json!({"tag": null}), json!({}), Value::Null] {
        let result = w
            .client
            .call_raw("echo", "ping", params.clone(), None)
            .await;
        assert_eq!(
            result.unwrap(),
            json!({}),
            "null/absent accepted, None omitted: {params}"
        );
    }
}

#[tokio::test]
async fn notifications_reach_the_handler_and_unknown_ones_vanish() {
    let w = world().await;
    let notified = w.probe.notified_signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    w.client
        .notify(
            RECORD,
            &Note {
                text: "ping".into(),
            },
        )
        .await
        .unwrap();
    notified.await;
    assert_eq!(w.probe.notifications(), 1);
    w.client
        .notify_raw("nobody", "ping", json!({}))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn call_times_out_with_the_peer_message() {
    let w = world().await;
    let params = SlowParams {
        a: 1,
        b: 2,
        ms: 10_000,
    };
    let err = w
        .client
        .call_with_timeout(SLOW_ADD, &params, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "call timeout");
}

#[tokio::test(start_paused = true)]
async fn default_timeout_is_30s_and_configurable() {
    let bus = MemoryBus::new();
    assert_eq!(bus.client().default_timeout(), Duration::from_secs(30));
    let server = bus.server();
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server.start().await.unwrap();
    let client = bus.client().with_default_timeout(Duration::from_millis(50));
    client.start().await.unwrap();
    let start = tokio::time::Instant::now();
    let params = SlowParams {
        a: 1,
        b: 2,
        ms: 60_000,
    };
    assert!(client
        .call(SLOW_ADD, &params)
        .await
        .unwrap_err()
        .is_timeout());
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test]
async fn stop_rejects_pending_calls_with_transport_stopped() {
    let w = world().await;
    let client = Arc::new(w.client);
    let caller = client.clone();
    let pending = tokio::spawn(async move { caller.call(GATED, &AddParams { a: 1, b: 1 }).await });
    while w.server.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    client.stop().await;
    let err = pending.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Stopped)),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "transport stopped");
    w.probe.gate.notify_one();
}

#[tokio::test]
async fn client_lifecycle_errors_match_the_peer() {
    let bus = MemoryBus::new();
    let client = bus.client();
    let err = client
        .call_raw("arith", "add", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "transport not started (state=idle)");
    client.start().await.unwrap();
    client.start().await.unwrap();
    assert_eq!(client.state(), State::Started);
    client.stop().await;
    client.stop().await;
    let err = client
        .call_raw("arith", "add", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "transport not started (state=stopped)");
    let err = client
        .notify_raw("arith", "ping", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "transport not started (state=stopped)");
    assert_eq!(
        client.start().await.unwrap_err().to_string(),
        "client has been stopped"
    );
    let never_started = bus.client();
    never_started.stop().await;
    assert_eq!(never_started.state(), State::Stopped);
}

#[tokio::test]
async fn server_lifecycle_and_registration_rules() {
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let dup = server
        .register_service(arith::service(Probe::default()))
        .unwrap_err();
    assert_eq!(
        dup.to_string(),
        "service \"arith\" already registered on this server"
    );
    server.start().await.unwrap();
    server.start().await.unwrap();
    assert!(matches!(
        server.register_service(arith::service(Probe::default())),
        Err(Error::Lifecycle(_))
    ));
    server.stop(Duration::from_secs(1)).await;
    server.stop(Duration::from_secs(1)).await;
    assert_eq!(
        server.start().await.unwrap_err().to_string(),
        "server has been stopped"
    );
    // Once stopped, nobody serves the service any more.
    let client = bus.client();
    client.start().await.unwrap();
    let err = client
        .call(ADD, &AddParams { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::NoServer { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn one_server_per_service_per_bus() {
    let w = world().await;
    let second = w.bus.server();
    second
        .register_service(arith::service(Probe::default()))
        .unwrap();
    let err = second.start().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "service \"arith\" already registered on this bus"
    );
    assert_eq!(second.state(), State::Idle);
    // The first server is untouched.
    assert!(w.client.call(ADD, &AddParams { a: 1, b: 1 }).await.is_ok());
}

#[tokio::test]
async fn stop_drains_in_flight_handlers() {
    let w = world().await;
    let client = Arc::new(w.client);
    let caller = client.clone();
    let pending = tokio::spawn(async move { caller.call(GATED, &AddParams { a: 2, b: 2 }).await });
    while w.server.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let server = Arc::new(w.server);
    let stopping = {
        let server = server.clone();
        tokio::spawn(async move { server.stop(Duration::from_secs(60)).await })
    };
    // New work is refused while the running handler may finish.
    while client.call(ADD, &AddParams { a: 1, b: 1 }).await.is_ok() {
        tokio::task::yield_now().await;
    }
    assert!(!stopping.is_finished());
    w.probe.gate.notify_one();
    stopping.await.unwrap();
    assert_eq!(pending.await.unwrap().unwrap(), Sum { sum: 4 });
}

#[tokio::test(start_paused = true)]
async fn stop_gives_up_after_the_grace_window() {
    let w = world().await;
    let client = Arc::new(w.client);
    let caller = client.clone();
    let _pending = tokio::spawn(async move { caller.call(GATED, &AddParams { a: 2, b: 2 }).await });
    while w.server.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let start = tokio::time::Instant::now();
    w.server.stop(Duration::from_millis(250)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(w.server.state(), State::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_calls() {
    let w = world().await;
    let client = Arc::new(w.client);
    let calls = (0..10_000).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(
                    ADD,
                    &AddParams {
                        a: i64::from(i),
                        b: 1,
                    },
                )
                .await
        })
    });
    let calls: Vec<_> = calls.collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap().sum, i as i64 + 1);
    }
}

const BOOM_EARLY: Method<Ping, Ping> = Method::new("boom", "early");
const BOOM_LATE: Method<Ping, Ping> = Method::new("boom", "late");
const BOOM_JSON_EARLY: Method<Ping, Ping> = Method::new("boom", "jsonEarly");
const BOOM_NOTE: NotificationMethod<Ping> = NotificationMethod::new("boom", "note");

/// Handlers that panic in the closure body (before a future exists), after an await inside
/// the future (so the memory client has spawned it), and in a `handle_json` closure.
fn boom_service() -> Service {
    let contract = Contract::builder("boom")
        .method(BOOM_EARLY)
        .method(BOOM_LATE)
        .method(BOOM_JSON_EARLY)
        .notification(BOOM_NOTE)
        .build()
        .unwrap();
    Service::builder(contract)
        .handle(BOOM_EARLY, |p: Ping| {
            if p.tag.is_none() {
                panic!("early blew up");
            }
            async move { Ok::<_, RpcError>(p) }
        })
        .handle(BOOM_LATE, |p: Ping| async move {
            tokio::task::yield_now().await;
            if p.tag.is_none() {
                panic!("late blew up");
            }
            Ok::<_, RpcError>(p)
        })
        .handle_json(BOOM_JSON_EARLY, |p: Ping| {
            if p.tag.is_none() {
                panic!("jsonEarly blew up");
            }
            async move { Ok::<_, RpcError>(json!({"tag": p.tag})) }
        })
        .on_notification(BOOM_NOTE, |p: Ping| {
            if p.tag.is_none() {
                panic!("note blew up");
            }
            async {}
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn handler_panics_answer_internal_error_at_once_and_the_server_keeps_serving() {
    let bus = MemoryBus::new();
    let server = bus.server();
    server.register_service(boom_service()).unwrap();
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server.start().await.unwrap();
    let client = bus.client();
    client.start().await.unwrap();
    // Far longer than an answer takes: a lost call would show as a timeout, not an RPC error.
    let limit = Duration::from_secs(10);
    for (method, name) in [
        (BOOM_EARLY, "early"),
        (BOOM_LATE, "late"),
        (BOOM_JSON_EARLY, "jsonEarly"),
    ] {
        let err = client
            .call_with_timeout(method, &Ping { tag: None }, limit)
            .await
            .unwrap_err();
        assert_eq!(
            rpc(err),
            RpcError::internal(json!({"name": "panic", "message": format!("{name} blew up")})),
            "{name}"
        );
        let tag = Some("fine".to_owned());
        let ok = client
            .call_with_timeout(method, &Ping { tag: tag.clone() }, limit)
            .await
            .unwrap();
        assert_eq!(ok.tag, tag, "{name} still serves");
    }
    client.notify(BOOM_NOTE, &Ping { tag: None }).await.unwrap();
    let sum = client
        .call_with_timeout(ADD, &AddParams { a: 1, b: 2 }, limit)
        .await
        .unwrap();
    assert_eq!(sum, Sum { sum: 3 });
}

#[tokio::test]
async fn discover_and_ping_list_the_registered_server_until_it_stops() {
    let w = world().await;
    let sum = w.client.call(ADD, &AddParams { a: 1, b: 2 }).await.unwrap();
    assert_eq!(sum, Sum { sum: 3 });
    assert!(w
        .client
        .call(DIVIDE, &AddParams { a: 1, b: 0 })
        .await
        .is_err());
    let everything = w.client.discover(None).await.unwrap();
    let mut services: Vec<&str> = everything.iter().map(|i| i.service.as_str()).collect();
    services.sort_unstable();
    assert_eq!(
        services,
        ["arith", "echo"],
        "one instance per registered service"
    );
    let found = w.client.discover(Some("arith")).await.unwrap();
    assert_eq!(found.len(), 1);
    let arith = &found[0];
    assert_eq!(arith.service, "arith");
    assert!(arith.instance_id.starts_with("memory-"));
    assert_eq!(arith.pid, std::process::id());
    assert_eq!((arith.handled, arith.errors, arith.in_flight), (2, 1, 0));
    assert!(arith
        .methods
        .iter()
        .any(|m| m.name == "add" && m.kind == "request"));
    assert!(w.client.discover(Some("other")).await.unwrap().is_empty());
    let pinged = w
        .client
        .ping("arith", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(pinged.len(), 1);
    assert!(pinged[0].alive);
    // A second bus sees nothing of this one.
    assert!(MemoryBus::new()
        .client()
        .discover(None)
        .await
        .unwrap()
        .is_empty());
    // A handler held open is in flight until it answers.
    let gated = w.client.call(GATED, &AddParams { a: 1, b: 1 });
    tokio::pin!(gated);
    tokio::select! {
        biased;
        _ = &mut gated => panic!("gated answered before its gate opened"),
        () = tokio::task::yield_now() => {}
    }
    let running = &w.client.discover(Some("arith")).await.unwrap()[0];
    assert_eq!((running.in_flight, running.handled), (1, 2));
    w.probe.gate.notify_one();
    assert_eq!(gated.await.unwrap(), Sum { sum: 2 });
    let done = &w.client.discover(Some("arith")).await.unwrap()[0];
    assert_eq!((done.in_flight, done.handled), (0, 3));
    w.server.stop(Duration::from_secs(1)).await;
    assert!(w.client.discover(None).await.unwrap().is_empty());
    assert!(w
        .client
        .ping("arith", Duration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
}
