//! The `clamator-gateway` binary: untyped forwarding of any service/method over real Redis,
//! its code-status flag, and `/healthz` with the Redis `PING` probe.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_forwards_any_method() {
    let stack = support::RedisStack::start("binary", |b| b).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clamator-gateway"))
        .args(["--listen", "127.0.0.1:0", "--prefix", &stack.prefix])
        .args(["--redis-url", &stack.redis.url, "--code-status=-32000=422"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the clamator-gateway binary");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.split("listening on ").nth(1) {
                return Some(url.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the binary prints its address");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{base}/rpc/{path}")).json(&body);
        async move {
            let resp = req.send().await.expect("HTTP request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("JSON body"))
        }
    };
    assert_eq!(
        post("arith/add", json!({"a": 1, "b": 2})).await,
        (200, json!({"sum": 3.0}))
    );
    let (status, body) = post("arith/divide", json!({"a": 1, "b": 0})).await;
    assert_eq!((status, &body["error"]["code"]), (422, &json!(-32000)));
    let (status, body) = post("desk/refuse", json!({"reason": "not-found"})).await;
    assert_eq!(
        (status, body),
        (404, json!({"ok": false, "reason": "not-found"}))
    );
    let (status, body) = post("ghost/call", json!({})).await;
    assert_eq!((status, &body["error"]["kind"]), (503, &json!("no-server")));

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["bus"], "reachable");
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["paths"]["/rpc/{service}/{method}"]["post"]["operationId"],
        "forward"
    );

    let _ = child.start_kill();
    let _ = child.wait().await;
    stack.stop().await;
}
