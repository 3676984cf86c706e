//! The generated server trait, contract and typed client, end to end over the memory bus.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clamator::memory::{MemoryBus, MemoryRpcClient, MemoryRpcServer};
use clamator::{Error, HandlerError, JsonSchema, MethodKind, RpcError, DEFAULT_STOP_GRACE};
use common::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

async fn serve(bus: &MemoryBus, services: Vec<clamator::Service>) -> MemoryRpcServer {
    let server = bus.server();
    for s in services {
        server.register_service(s).unwrap();
    }
    server.start().await.unwrap();
    server
}

async fn client(bus: &MemoryBus) -> MemoryRpcClient {
    let client = bus.client();
    client.start().await.unwrap();
    client
}

#[test]
fn contract_has_the_wire_names_and_kinds() {
    let contract = ArithContract::contract();
    assert_eq!(contract.service(), "arith");
    let names: Vec<_> = contract
        .methods()
        .iter()
        .map(clamator::MethodDef::name)
        .collect();
    assert_eq!(names, ["add", "divide", "echoText", "slowAdd"]);
    assert_eq!(ArithContract::SLOW.name(), "slowAdd");
    assert_eq!(ArithContract::ECHO_TEXT.service(), "arith");
    let ping = NotificationsContract::contract();
    assert_eq!(
        ping.method("ping").unwrap().kind(),
        MethodKind::Notification
    );
}

#[tokio::test]
async fn typed_client_round_trips_through_the_trait_impl() {
    let bus = MemoryBus::new();
    let server = serve(&bus, vec![ArithContract::service(Calculator)]).await;
    let core = client(&bus).await;
    let arith = ArithClient::new(&core);

    let sum = arith.add(&AddParams { a: 2.0, b: 3.0 }).await.unwrap();
    assert_eq!(sum, SumResult { sum: 5.0 });
    let text = Text {
        text: "hello".into(),
    };
    assert_eq!(arith.echo_text(&text).await.unwrap(), text);
    let q = arith.divide(&AddParams { a: 9.0, b: 2.0 }).await.unwrap();
    assert_eq!(q.q, 4.5);

    // The generated constants work with the hand-written API too: same wire names.
    let raw = core
        .call_raw("arith", "echoText", json!({"text": "raw"}), None)
        .await
        .unwrap();
    assert_eq!(raw, json!({"text": "raw"}));
    let sum = core
        .call(ArithContract::ADD, &AddParams { a: 1.0, b: 1.0 })
        .await
        .unwrap();
    assert_eq!(sum.sum, 2.0);

    core.stop().await;
    server.stop(DEFAULT_STOP_GRACE).await;
}

#[tokio::test]
async fn client_works_over_an_arc_and_an_owned_core() {
    let bus = MemoryBus::new();
    let server = serve(&bus, vec![ArithContract::service(Calculator)]).await;

    let shared = ArithClient::new(Arc::new(client(&bus).await));
    let clone = shared.clone();
    let (a, b) = tokio::join!(
        shared.add(&AddParams { a: 1.0, b: 2.0 }),
        clone.add(&AddParams { a: 3.0, b: 4.0 })
    );
    assert_eq!((a.unwrap().sum, b.unwrap().sum), (3.0, 7.0));

    let owned = ArithClient::new(client(&bus).await);
    assert_eq!(
        owned.add(&AddParams { a: 5.0, b: 5.0 }).await.unwrap().sum,
        10.0
    );
    owned.into_core().stop().await;
    server.stop(DEFAULT_STOP_GRACE).await;
}

#[tokio::test]
async fn rpc_errors_pass_through_unchanged() {
    let bus = MemoryBus::new();
    let server = serve(&bus, vec![ArithContract::service(Calculator)]).await;
    let core = client(&bus).await;
    let arith = ArithClient::new(&core);

    let err = arith
        .divide(&AddParams { a: 10.0, b: 0.0 })
        .await
        .unwrap_err();
    assert_eq!(
        err.as_rpc(),
        Some(&RpcError::new(-32000, "division by zero"))
    );

    // Params that do not match the generated contract: -32602 before the handler runs.
    let err = core
        .call_raw("arith", "add", json!({"a": "two", "b": 3}), None)
        .await
        .unwrap_err();
    assert_eq!(err.as_rpc().map(|e| e.code), Some(-32602));
    server.stop(DEFAULT_STOP_GRACE).await;
}

#[tokio::test]
async fn notification_reaches_the_implementation() {
    let bus = MemoryBus::new();
    let counter = Arc::new(PingCounter::default());
    let server = serve(
        &bus,
        vec![NotificationsContract::service(Arc::clone(&counter))],
    )
    .await;
    let core = client(&bus).await;
    let notifications = NotificationsClient::new(&core);

    notifications
        .ping(&PingParams {
            tag: Some("x".into()),
        })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), counter.notify.notified())
        .await
        .expect("ping handled");
    assert_eq!(counter.count.load(Ordering::SeqCst), 1);
    assert_eq!(*counter.tags.lock().unwrap(), [Some("x".to_owned())]);
    server.stop(DEFAULT_STOP_GRACE).await;
}

#[tokio::test]
async fn timeout_variant_bounds_the_call() {
    let bus = MemoryBus::new();
    let server = serve(&bus, vec![ArithContract::service(Calculator)]).await;
    let core = client(&bus).await;
    let arith = ArithClient::new(&core);
    let slow = SlowAddParams {
        a: 1.0,
        b: 2.0,
        sleep_ms: 800,
    };

    let err = arith
        .slow_with_timeout(&slow, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("timeout"), "{err}");

    let quick = SlowAddParams {
        sleep_ms: 10,
        ..slow
    };
    let sum = arith
        .slow_with_timeout(&quick, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(sum.sum, 3.0);
    server.stop(DEFAULT_STOP_GRACE).await;
}

// --- error types other than RpcError, notification returning Result, renamed crate path ---

#[derive(Debug)]
struct DiskError;

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for DiskError {}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Key {
    key: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Stored {
    value: Option<String>,
}

mod renamed {
    pub(crate) use clamator as clam;
}

/// A store whose failures are not RPC errors.
#[clamator::service(name = "kv-store", crate = renamed::clam)]
trait Store {
    async fn get(&self, params: Key) -> Result<Stored, DiskError>;
    #[clamator(notification)]
    async fn evict(&self, params: Key) -> Result<(), HandlerError>;
}

struct Broken(tokio::sync::mpsc::UnboundedSender<String>);

impl Store for Broken {
    async fn get(&self, _: Key) -> Result<Stored, DiskError> {
        Err(DiskError)
    }

    async fn evict(&self, p: Key) -> Result<(), HandlerError> {
        self.0.send(p.key).unwrap();
        Err(HandlerError::internal("Evict", "nothing to evict"))
    }
}

#[tokio::test]
async fn other_error_types_become_internal_errors() {
    let bus = MemoryBus::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = serve(&bus, vec![StoreContract::service(Broken(tx))]).await;
    let core = client(&bus).await;
    let store = StoreClient::new(&core);

    let err = store.get(&Key { key: "k".into() }).await.unwrap_err();
    let Error::Rpc(rpc) = err else {
        panic!("expected an RPC error, got {err:?}")
    };
    assert_eq!(rpc.code, -32603);
    assert_eq!(
        rpc.data,
        json!({"name": "DiskError", "message": "disk on fire"})
    );

    store.evict(&Key { key: "gone".into() }).await.unwrap();
    assert_eq!(rx.recv().await.as_deref(), Some("gone"));
    assert_eq!(StoreContract::SERVICE_NAME, "kv-store");
    server.stop(DEFAULT_STOP_GRACE).await;
}

/// The typed client takes the Redis transport's client facade as is (compile-time check; the
/// Redis round trip itself is the transport's own test suite).
#[cfg(feature = "redis")]
#[allow(dead_code)]
async fn typed_client_over_redis(
    client: &clamator::redis::RedisRpcClient,
) -> Result<SumResult, Error> {
    ArithClient::new(client)
        .add(&AddParams { a: 1.0, b: 2.0 })
        .await
}
