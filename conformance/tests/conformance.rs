//! One behaviour contract, every transport: each check below runs over the memory bus and over
//! a real Redis, through the same erased [`AnyClient`]. A transport that answers differently
//! from the others fails here.

use std::time::{Duration, Instant};

use clamator::{codes, AnyClient, Error, RpcError, State, TransportError};
use clamator_conformance::bus::Bus;
use clamator_conformance::service::{self, AddParams, Empty, Note, Probe, SlowParams, Sum};
use serde_json::json;

fn rpc(e: Error) -> RpcError {
    match e {
        Error::Rpc(r) => r,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

async fn typed_calls_and_application_errors(bus: &Bus) {
    let _server = bus.serve(service::service(Probe::default())).await;
    let client = bus.started_client().await;
    let sum = client
        .call(service::ADD, &AddParams { a: 2, b: 3 })
        .await
        .unwrap();
    assert_eq!(sum, Sum { sum: 5 });
    let err = client
        .call(service::DIVIDE, &AddParams { a: 1, b: 0 })
        .await
        .unwrap_err();
    assert_eq!(rpc(err), RpcError::new(-32000, "division by zero"));
    client.stop().await;
}

async fn reserved_codes(bus: &Bus) {
    let _server = bus.serve(service::service(Probe::default())).await;
    let client = bus.started_client().await;
    let bad = client
        .call_raw("arith", "add", json!({"a": "two", "b": 3}), None)
        .await
        .unwrap_err();
    let bad = rpc(bad);
    assert_eq!(bad.code, codes::INVALID_PARAMS);
    assert_eq!(bad.data["errors"][0]["loc"], json!(["a"]));
    let missing = client
        .call_raw("arith", "nope", json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(rpc(missing), RpcError::method_not_found());
    let unhandled = client
        .call(service::UNHANDLED, &Empty {})
        .await
        .unwrap_err();
    assert_eq!(rpc(unhandled), RpcError::method_not_found());
    let failed = rpc(client.call(service::FAIL, &Empty {}).await.unwrap_err());
    assert_eq!(failed.code, codes::INTERNAL_ERROR);
    assert_eq!(failed.data["message"], "disk on fire");
    for method in [service::PANIC_IN_FUTURE, service::PANIC_IN_CLOSURE] {
        let started = Instant::now();
        let panicked = rpc(client
            .call_with_timeout(method, &Empty {}, Duration::from_secs(20))
            .await
            .unwrap_err());
        assert_eq!(panicked.code, codes::INTERNAL_ERROR, "{}", method.name());
        assert_eq!(panicked.data["name"], "panic");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            method.name()
        );
    }
    // The server keeps serving after every failure above.
    assert_eq!(
        client
            .call(service::ADD, &AddParams { a: 1, b: 1 })
            .await
            .unwrap(),
        Sum { sum: 2 }
    );
    client.stop().await;
}

async fn unknown_service_fails_fast(bus: &Bus) {
    let _server = bus.serve(service::service(Probe::default())).await;
    let client = bus.started_client().await;
    let started = Instant::now();
    let err = client
        .call_raw("nobody", "add", json!({}), Some(Duration::from_secs(20)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(TransportError::NoServer { service }) if service == "nobody"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    client.stop().await;
}

async fn timeouts_and_the_server_goes_on(bus: &Bus) {
    let _server = bus.serve(service::service(Probe::default())).await;
    let client = bus.started_client().await;
    let err = client
        .call_with_timeout(
            service::SLOW_ADD,
            &SlowParams {
                a: 0,
                b: 0,
                ms: 2_000,
            },
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.to_string(), "call timeout");
    assert_eq!(client.pending_calls(), 0);
    assert_eq!(
        client
            .call(service::ADD, &AddParams { a: 4, b: 4 })
            .await
            .unwrap(),
        Sum { sum: 8 }
    );
    client.stop().await;
}

async fn notifications_arrive(bus: &Bus) {
    let probe = Probe::default();
    let _server = bus.serve(service::service(probe.clone())).await;
    let client = bus.started_client().await;
    let pinged = probe.notified_signal.notified();
    tokio::pin!(pinged);
    pinged.as_mut().enable();
    client
        .notify(
            service::RECORD,
            &Note {
                text: "ping".into(),
            },
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), pinged)
        .await
        .expect("the notification reached its handler");
    assert_eq!(probe.notifications(), 1);
    client.stop().await;
}

async fn client_lifecycle(bus: &Bus) {
    let server = bus.serve(service::service(Probe::default())).await;
    let client: AnyClient = bus.client();
    assert_eq!(client.state(), State::Idle);
    let err = client
        .call(service::ADD, &AddParams { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "transport not started (state=idle)");
    client.start().await.unwrap();
    client.start().await.unwrap(); // idempotent
    let shared = client.clone();
    let pending = tokio::spawn(async move {
        shared
            .call_with_timeout(
                service::SLOW_ADD,
                &SlowParams {
                    a: 0,
                    b: 0,
                    ms: 3_000,
                },
                Duration::from_secs(10),
            )
            .await
    });
    tokio::time::timeout(Duration::from_secs(2), async {
        while client.pending_calls() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call is pending");
    client.stop().await;
    client.stop().await; // idempotent
    let err = pending.await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "transport stopped");
    let err = client
        .call(service::ADD, &AddParams { a: 1, b: 1 })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "transport not started (state=stopped)");
    assert_eq!(
        client.start().await.unwrap_err().to_string(),
        "client has been stopped"
    );
    server.stop(Duration::from_secs(1)).await;
}

async fn server_lifecycle(bus: &Bus) {
    let server = bus.server();
    server.register(service::service(Probe::default())).unwrap();
    let again = server
        .register(service::service(Probe::default()))
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "service \"arith\" already registered on this server"
    );
    server.start().await.unwrap();
    server.start().await.unwrap(); // idempotent
    let late = server
        .register(service::service(Probe::default()))
        .unwrap_err();
    assert!(late.to_string().contains("before start()"), "{late}");
    server.stop(Duration::from_secs(1)).await;
    server.stop(Duration::from_secs(1)).await;
    assert_eq!(
        server.start().await.unwrap_err().to_string(),
        "server has been stopped"
    );
}

async fn many_concurrent_calls(bus: &Bus) {
    let _server = bus.serve(service::service(Probe::default())).await;
    let client = bus.started_client().await;
    let calls = (0..500).map(|i| {
        let client = client.clone();
        async move { client.call(service::ADD, &AddParams { a: i, b: 1 }).await }
    });
    let results = futures_join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().sum, i as i64 + 1);
    }
    client.stop().await;
}

/// `join_all` without another dependency: spawn each call and await them in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("call task"));
    }
    out
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&clamator_conformance::bus::Bus::memory()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let bus = clamator_conformance::bus::Bus::redis(stringify!($check)).await;
                    super::$check(&bus).await;
                }
            )*
        }
    };
}

conformance!(
    typed_calls_and_application_errors,
    reserved_codes,
    unknown_service_fails_fast,
    timeouts_and_the_server_goes_on,
    notifications_arrive,
    client_lifecycle,
    server_lifecycle,
    many_concurrent_calls,
);
