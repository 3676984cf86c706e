//! The gateway in front of a Python clamator 0.1.9 server (the interop suite's
//! `server_driver.py`, in the venv the interop suite builds under `target/interop-venv`) on a
//! real Redis. Fails, never skips, when python3/venv or Redis are missing.

mod support;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use clamator::redis::{RedisClientOptions, RedisRpcClient};
use clamator::AnyClient;
use clamator_gateway::StatusMap;
use clamator_interop::runner::env::{python_peer, RedisForTests};
use clamator_interop::runner::process::{Drivers, Lang, ServerProcess};
use serde_json::{json, Value};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate sits in the workspace")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_behind_the_gateway() {
    let redis = RedisForTests::find_or_start()
        .unwrap_or_else(|e| panic!("this test needs a real Redis: {e}"));
    let root = workspace();
    let python = python_peer(&root).unwrap_or_else(|e| {
        panic!("this test needs python3 with venv and the pinned clamator 0.1.9 peer: {e}")
    });
    let drivers = Drivers {
        python,
        python_dir: root.join("interop").join("python"),
        // Only the Python server driver is started here.
        rust_server: PathBuf::new(),
        rust_client: PathBuf::new(),
    };
    let prefix = support::prefix("py");
    let server = ServerProcess::start(
        &drivers,
        Lang::Py,
        "srv-py",
        json!({
            "contract": "arith", "redisUrl": redis.url, "keyPrefix": prefix,
            "consumerClaimIdleMs": 60_000, "instanceId": "srv-py", "generatedDir": "",
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("Python server: {e}"));

    let client: AnyClient = RedisRpcClient::new(
        RedisClientOptions::new(prefix.clone()).with_redis_url(redis.url.clone()),
    )
    .into();
    let gw = support::Gateway::serve(client, |b| {
        support::typed(b)
            .status_map(StatusMap::default().with_code(-32000, StatusCode::UNPROCESSABLE_ENTITY))
            .forward_any(true)
    })
    .await;

    let (status, body) = gw.rpc("arith/add", json!({"a": 2, "b": 3})).await;
    assert_eq!((status, body), (200, json!({"sum": 5.0})));
    let (status, body) = gw.rpc("arith/echoText", json!({"text": "héllo ✓"})).await;
    assert_eq!((status, body), (200, json!({"text": "héllo ✓"})));
    // Application code from Python's RpcError, through the table.
    let (status, body) = gw.rpc("arith/divide", json!({"a": 1, "b": 0})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], -32000);
    assert_eq!(body["error"]["message"], "division by zero");
    // pydantic's -32602 and Python's -32601.
    let (status, body) = gw.rpc("arith/add", json!({"a": "x"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32602);
    let (status, body) = gw.rpc("arith/nope", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32601);
    // A Python handler slower than the caller's budget.
    let resp = gw
        .http
        .post(format!("{}/rpc/arith/slowAdd", gw.base))
        .header("Request-Timeout", "200ms")
        .json(&json!({"a": 1, "b": 2, "sleepMs": 5_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    // /jsonrpc reaches the Python server too.
    let resp = gw
        .http
        .post(format!("{}/jsonrpc", gw.base))
        .json(&json!({"jsonrpc": "2.0", "id": "p1", "method": "arith.add", "params": {"a": 1, "b": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": "p1", "result": {"sum": 2.0}})
    );

    gw.client.stop().await;
    let handled = server.terminate().await.unwrap_or_else(|e| panic!("{e}"));
    // add, echoText, divide, slowAdd, jsonrpc add (the -32602 and -32601 never reach a handler).
    assert_eq!(handled, 5, "handler invocations of the Python server");
}
