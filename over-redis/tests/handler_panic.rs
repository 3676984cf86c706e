//! A handler that panics, in its closure body (before it returns a future) or inside the
//! future, is answered `-32603 Internal error` over Redis at once, and the server keeps
//! serving. A panic in the closure body used to kill the task handling the entry: the caller
//! saw only its call timeout.

mod support;

use std::time::{Duration, Instant};

use clamator_over_redis::{RedisRpcServer, RedisServerOptions};
use clamator_protocol::{Contract, Method, NotificationMethod, RpcError, Service};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{start_client, TestKeys};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Tagged {
    tag: Option<String>,
}

const EARLY: Method<Tagged, Tagged> = Method::new("boom", "early");
const LATE: Method<Tagged, Tagged> = Method::new("boom", "late");
const JSON_EARLY: Method<Tagged, Tagged> = Method::new("boom", "jsonEarly");
const NOTE: NotificationMethod<Tagged> = NotificationMethod::new("boom", "note");

/// Each handler panics unless `tag` is set, so the same handler shows it still serves.
fn boom_service() -> Service {
    let contract = Contract::builder("boom")
        .method(EARLY)
        .method(LATE)
        .method(JSON_EARLY)
        .notification(NOTE)
        .build()
        .unwrap();
    Service::builder(contract)
        .handle(EARLY, |p: Tagged| {
            if p.tag.is_none() {
                panic!("early blew up");
            }
            async move { Ok::<_, RpcError>(p) }
        })
        .handle(LATE, |p: Tagged| async move {
            tokio::task::yield_now().await;
            if p.tag.is_none() {
                panic!("late blew up");
            }
            Ok::<_, RpcError>(p)
        })
        .handle_json(JSON_EARLY, |p: Tagged| {
            if p.tag.is_none() {
                panic!("jsonEarly blew up");
            }
            async move { Ok::<_, RpcError>(json!({ "tag": p.tag })) }
        })
        .on_notification(NOTE, |p: Tagged| {
            if p.tag.is_none() {
                panic!("note blew up");
            }
            async {}
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panics_are_answered_at_once_and_the_server_keeps_serving() {
    support::init_tracing();
    let keys = TestKeys::new("handler-panic");
    let server =
        RedisRpcServer::new(RedisServerOptions::new(&keys.prefix).with_redis_url(&keys.url));
    server.register_service(boom_service()).unwrap();
    server.start().await.unwrap();
    let client = start_client(&keys, |o| o).await;
    // A lost call would surface as this timeout; an answer takes milliseconds.
    let timeout = Duration::from_secs(20);

    for (method, name) in [(EARLY, "early"), (LATE, "late"), (JSON_EARLY, "jsonEarly")] {
        let started = Instant::now();
        let err = client
            .call_with_timeout(method, &Tagged { tag: None }, timeout)
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        let rpc = err
            .as_rpc()
            .unwrap_or_else(|| panic!("{name}: expected -32603, got {err:?}"));
        assert_eq!(
            rpc,
            &RpcError::internal(json!({"name": "panic", "message": format!("{name} blew up")})),
            "{name}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "{name}: answered only after {elapsed:?}"
        );
    }

    // A panicking notification is logged, and the server goes on serving every method.
    client.notify(NOTE, &Tagged { tag: None }).await.unwrap();
    for method in [EARLY, LATE, JSON_EARLY] {
        let tag = Some(format!("after-{}", method.name()));
        let back = client
            .call_with_timeout(method, &Tagged { tag: tag.clone() }, timeout)
            .await
            .unwrap();
        assert_eq!(back, Tagged { tag });
    }

    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}
