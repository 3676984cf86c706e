//! The gateway over real HTTP in front of a Rust server on a real Redis: every mapping of the
//! clamator gateway table, the transport failures, the request-handling limits and `/jsonrpc`.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use clamator_gateway::StatusMap;
use serde_json::{json, Value};
use support::RedisStack;

fn with_table(b: clamator_gateway::GatewayBuilder) -> clamator_gateway::GatewayBuilder {
    b.status_map(StatusMap::default().with_code(-32000, StatusCode::UNPROCESSABLE_ENTITY))
        .forward_any(true)
        .body_limit(4096)
        .max_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_is_200_with_the_result() {
    let s = RedisStack::start("ok", with_table).await;
    let (status, body) = s.gateway.rpc("arith/add", json!({"a": 2, "b": 3})).await;
    assert_eq!((status, body), (200, json!({"sum": 5.0})));
    let (status, body) = s
        .gateway
        .rpc("arith/echoText", json!({"text": "héllo"}))
        .await;
    assert_eq!((status, body), (200, json!({"text": "héllo"})));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_codes_map_to_400_and_500() {
    let s = RedisStack::start("reserved", with_table).await;
    // -32601: a method the server does not have (forwarded untyped).
    let (status, body) = s.gateway.rpc("arith/nope", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "rpc");
    assert_eq!(body["error"]["code"], -32601);
    // -32602: params the server's type refuses.
    let (status, body) = s.gateway.rpc("arith/add", json!({"a": "x"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], -32602);
    // -32603: the handler failed with a non-RPC error.
    let (status, body) = s.gateway.rpc("desk/crash", json!({})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], -32603);
    // The reserved codes keep their statuses even when a handler raises them itself.
    for (code, want) in [
        (-32700, 400),
        (-32600, 400),
        (-32601, 400),
        (-32602, 400),
        (-32603, 500),
    ] {
        let (status, body) = s.gateway.rpc("desk/fail", json!({"code": code})).await;
        assert_eq!(status, want, "{code}: {body}");
        assert_eq!(body["error"]["code"], code);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_codes_follow_the_table() {
    let s = RedisStack::start("appcode", with_table).await;
    // -32000 is in the table (422); its message and data come through.
    let (status, body) = s.gateway.rpc("arith/divide", json!({"a": 1, "b": 0})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body,
        json!({"error": {"kind": "rpc", "message": "division by zero", "code": -32000, "data": null}})
    );
    // A code without an entry: the unmapped status (500 by default).
    let (status, body) = s.gateway.rpc("desk/fail", json!({"code": 4711})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], 4711);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_reasons_map_by_the_table() {
    let s = RedisStack::start("refusal", |b| {
        with_table(b).status_map(
            StatusMap::default().with_reason("quota-exceeded", StatusCode::TOO_MANY_REQUESTS),
        )
    })
    .await;
    let (status, body) = s.gateway.rpc("desk/refuse", json!({})).await;
    assert_eq!((status, body), (200, json!({"ok": true, "id": "job-1"})));
    for (reason, want) in [
        ("not-found", 404),
        ("conflict", 409),
        ("already-running", 409),
        ("already-exists", 409),
        ("forbidden", 403),
        ("not-authorized", 403),
        ("validation-failed", 422),
        ("invalid-input", 422),
        ("not-launchable", 412),
        ("precondition-failed", 412),
        ("anything-else", 409),
        ("quota-exceeded", 429),
    ] {
        let (status, body) = s
            .gateway
            .rpc("desk/refuse", json!({"reason": reason}))
            .await;
        assert_eq!(status, want, "{reason}");
        assert_eq!(
            body,
            json!({"ok": false, "reason": reason}),
            "the result is the body"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_header_gives_504_and_is_capped() {
    let s = RedisStack::start("timeout", |b| {
        with_table(b).max_timeout(Duration::from_millis(300))
    })
    .await;
    let url = format!("{}/rpc/desk/slow", s.gateway.base);
    let started = std::time::Instant::now();
    let resp = s
        .gateway
        .http
        .post(&url)
        .header("Request-Timeout", "200ms")
        .json(&json!({"ms": 10_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Asking for an hour is capped at the 300 ms maximum, not refused.
    let started = std::time::Instant::now();
    let resp = s
        .gateway
        .http
        .post(&url)
        .header("Request-Timeout", "60m")
        .json(&json!({"ms": 10_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A fast call within its header's budget succeeds.
    let resp = s
        .gateway
        .http
        .post(&url)
        .header("Request-Timeout", "2s")
        .json(&json!({"ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Nonsense is 400, before anything is sent.
    let resp = s
        .gateway
        .http
        .post(&url)
        .header("Request-Timeout", "soon")
        .json(&json!({"ms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "bad-request");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_and_stopped_are_503() {
    let s = RedisStack::start("noserver", with_table).await;
    // Nobody ever served `ghost`: the client fails fast.
    let (status, body) = s.gateway.rpc("ghost/call", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["kind"], "no-server");
    // A stopped client.
    s.gateway.client.stop().await;
    let (status, body) = s.gateway.rpc("arith/add", json!({"a": 1, "b": 2})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["kind"], "stopped");
    let health = s
        .gateway
        .http
        .get(format!("{}/healthz", s.gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_malformed_bodies_are_refused_with_json_errors() {
    let s = RedisStack::start("bodies", with_table).await;
    let url = format!("{}/rpc/arith/echoText", s.gateway.base);
    // Over the 4096-byte limit, with a Content-Length.
    let big = json!({"text": "x".repeat(5000)});
    let resp = s.gateway.http.post(&url).json(&big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "payload-too-large");
    // Over the limit without a Content-Length (chunked): counted while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let resp = s
        .gateway
        .http
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Malformed JSON.
    for bad in ["{", "{\"text\": }", "not json", "\u{0}"] {
        let resp = s
            .gateway
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "bad-request", "{bad:?}");
    }
    // Not UTF-8.
    let resp = s
        .gateway
        .http
        .post(&url)
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_is_echoed_or_generated() {
    let s = RedisStack::start("reqid", with_table).await;
    let url = format!("{}/rpc/arith/add", s.gateway.base);
    let resp = s
        .gateway
        .http
        .post(&url)
        .header("x-request-id", "abc-123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({"a": 1, "b": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    // Errors carry it too, and a request without one gets a fresh id.
    let resp = s.gateway.http.post(&url).body("{").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_gateway_exposes_only_its_methods() {
    let s = RedisStack::start("typedonly", |b| b).await;
    let (status, body) = s.gateway.rpc("arith/nope", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["kind"], "not-found");
    let (status, _) = s.gateway.rpc("arith/add", json!({"a": 1, "b": 2})).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_on_rpc_is_202_and_delivered() {
    let s = RedisStack::start("rpcnote", with_table).await;
    let (status, body) = s.gateway.rpc("desk/note", json!({"text": "hello"})).await;
    assert_eq!((status, body), (202, Value::Null));
    let got = tokio::time::timeout(Duration::from_secs(10), s.notes.lock().await.recv()).await;
    assert_eq!(got, Ok(Some("hello".to_owned())));
    s.stop().await;
}

async fn post_jsonrpc(s: &RedisStack, body: &str) -> (u16, Value) {
    let resp = s
        .gateway
        .http
        .post(format!("{}/jsonrpc", s.gateway.base))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_request_and_notification() {
    let s = RedisStack::start("jsonrpc", with_table).await;
    // A request: the JSON-RPC response with the caller's id.
    let (status, body) = post_jsonrpc(
        &s,
        r#"{"jsonrpc":"2.0","id":7,"method":"arith.add","params":{"a":1,"b":2}}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": 7, "result": {"sum": 3.0}})
    );
    let (status, body) = post_jsonrpc(
        &s,
        r#"{"jsonrpc":"2.0","id":"x1","method":"arith.divide","params":{"a":1,"b":0}}"#,
    )
    .await;
    assert_eq!(status, 200, "a server's error is a JSON-RPC answer");
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": "x1", "error": {"code": -32000, "message": "division by zero", "data": null}})
    );
    // A notification: 202, delivered.
    let (status, body) = post_jsonrpc(
        &s,
        r#"{"jsonrpc":"2.0","method":"desk.note","params":{"text":"via jsonrpc"}}"#,
    )
    .await;
    assert_eq!((status, body), (202, Value::Null));
    let got = tokio::time::timeout(Duration::from_secs(10), s.notes.lock().await.recv()).await;
    assert_eq!(got, Ok(Some("via jsonrpc".to_owned())));
    // Parse error, invalid request, batch.
    let (status, body) = post_jsonrpc(&s, "{").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(body["id"], Value::Null);
    let (status, body) = post_jsonrpc(&s, r#"{"jsonrpc":"1.0","id":3,"method":"arith.add"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(body["id"], 3);
    let (status, body) = post_jsonrpc(&s, "[]").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600);
    // Transport failures: -32603 with data.kind, and the HTTP status.
    let (status, body) =
        post_jsonrpc(&s, r#"{"jsonrpc":"2.0","id":1,"method":"ghost.call"}"#).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["data"]["kind"], "no-server");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_lists_the_live_instances_per_service() {
    let s = RedisStack::start("health", with_table).await;
    let health = async || -> Value {
        let resp = s
            .gateway
            .http
            .get(format!("{}/healthz", s.gateway.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    };
    let ids = |h: &Value, service: &str| -> Vec<String> {
        h["instances"][service]
            .as_array()
            .unwrap_or_else(|| panic!("no instances.{service} in {h}"))
            .iter()
            .map(|i| i["instanceId"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = s.server.transport().instance_id().to_owned();
    let h = health().await;
    assert_eq!(ids(&h, "arith"), std::slice::from_ref(&first));
    assert_eq!(ids(&h, "desk"), std::slice::from_ref(&first));
    let arith = &h["instances"]["arith"][0];
    assert_eq!(arith["pid"], std::process::id());
    assert!(arith["methods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "add"));
    // A second arith server joins the list; stopped, it leaves it at once.
    let second = clamator::redis::RedisRpcServer::new(
        clamator::redis::RedisServerOptions::new(s.prefix.clone())
            .with_redis_url(s.redis.url.clone())
            .with_instance_id("second"),
    );
    second
        .register_service(clamator_interop::handlers::arith(Default::default()))
        .unwrap();
    second.start().await.unwrap();
    let mut both = vec![first.clone(), "second".to_owned()];
    both.sort();
    assert_eq!(ids(&health().await, "arith"), both);
    second.stop(Duration::from_millis(500)).await;
    let h = health().await;
    assert_eq!(ids(&h, "arith"), std::slice::from_ref(&first));
    assert_eq!(ids(&h, "desk"), [first]);
    s.stop().await;
}
