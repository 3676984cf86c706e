//! Trace context across client and server (feature `otel`): a Rust client's span and the Rust
//! server's span share the trace id, parent to child, over memory and over a real Redis; a
//! peer-style request (no trace fields) starts a fresh trace; hostile values are ignored.

mod common;

use std::time::{Duration, Instant};

use clamator::memory::MemoryBus;
use clamator::redis::testing::{shared_url, TestPrefix};
use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::DEFAULT_STOP_GRACE;
use common::*;
use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

/// A subscriber for this test's thread that exports every span to memory, synchronously.
fn tracing_to_memory() -> (InMemorySpanExporter, SdkTracerProvider, DefaultGuard) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("clamator-test"));
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (exporter, provider, guard)
}

/// Waits (bounded) until the exporter holds a span named `name` of `kind`: a server span ends
/// when its entry is committed, which may be just after the caller got its reply.
async fn span_named(exporter: &InMemorySpanExporter, name: &str, kind: SpanKind) -> SpanData {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = exporter.get_finished_spans().unwrap();
        if let Some(s) = spans
            .into_iter()
            .find(|s| s.name == name && s.span_kind == kind)
        {
            return s;
        }
        assert!(Instant::now() < give_up, "no {kind:?} span {name}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn assert_parent_child(client: &SpanData, server: &SpanData) {
    assert_eq!(
        client.span_context.trace_id(),
        server.span_context.trace_id(),
        "one trace"
    );
    assert_eq!(
        server.parent_span_id,
        client.span_context.span_id(),
        "server span is the client span's child"
    );
    for s in [client, server] {
        assert_eq!(attr(s, "rpc.system").as_deref(), Some("jsonrpc"));
        assert_eq!(attr(s, "rpc.service").as_deref(), Some("arith"));
        assert_eq!(attr(s, "rpc.method").as_deref(), Some("add"));
    }
    assert_eq!(
        attr(client, "rpc.jsonrpc.request_id"),
        attr(server, "rpc.jsonrpc.request_id")
    );
}

#[tokio::test]
async fn client_and_server_spans_share_the_trace_over_memory() {
    let (exporter, _provider, _guard) = tracing_to_memory();
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(ArithContract::service(Calculator))
        .unwrap();
    server.start().await.unwrap();
    let client = bus.client();
    client.start().await.unwrap();

    let sum = client
        .call_raw("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.0}));

    let c = span_named(&exporter, "arith/add", SpanKind::Client).await;
    let s = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_parent_child(&c, &s);
    server.stop(DEFAULT_STOP_GRACE).await;
}

async fn redis_pair(keys: &TestPrefix) -> (RedisRpcServer, RedisRpcClient) {
    let server =
        RedisRpcServer::new(RedisServerOptions::new(keys.prefix()).with_redis_url(keys.url()));
    server
        .register_service(ArithContract::service(Calculator))
        .unwrap();
    server.start().await.unwrap();
    let client =
        RedisRpcClient::new(RedisClientOptions::new(keys.prefix()).with_redis_url(keys.url()));
    client.start().await.unwrap();
    (server, client)
}

#[tokio::test]
async fn client_and_server_spans_share_the_trace_over_redis() {
    let (exporter, _provider, _guard) = tracing_to_memory();
    let keys = TestPrefix::new(shared_url().unwrap(), "otel-trace");
    let (server, client) = redis_pair(&keys).await;

    let sum = client
        .call_raw("arith", "add", json!({"a": 1, "b": 2}), None)
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 3.0}));

    let c = span_named(&exporter, "arith/add", SpanKind::Client).await;
    let s = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_parent_child(&c, &s);
    assert!(
        attr(&s, "messaging.message.id").is_some(),
        "entry id recorded"
    );

    client.stop().await;
    server.stop(DEFAULT_STOP_GRACE).await;
}

/// An entry a crashed consumer left pending is reclaimed and handled again: its server span
/// says how many times it was delivered; a first delivery records no count.
#[tokio::test]
async fn a_reclaimed_entry_records_its_delivery_count() {
    let (exporter, _provider, _guard) = tracing_to_memory();
    let keys = TestPrefix::new(shared_url().unwrap(), "otel-redelivered");
    let stream = clamator::redis::keys::command_stream(keys.prefix(), "arith");
    let mut con = redis::Client::open(keys.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut con)
        .unwrap();
    let notification = json!({"jsonrpc": "2.0", "method": "arith.add", "params": {"a": 1, "b": 1}});
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(notification.to_string())
        .query(&mut con)
        .unwrap();
    // A consumer that reads the entry and dies: it stays pending, delivered once.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:crashed")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut con)
        .unwrap();
    let server = RedisRpcServer::new(
        RedisServerOptions::new(keys.prefix())
            .with_redis_url(keys.url())
            .with_claim_idle(Duration::from_millis(50))
            .with_reclaim_interval(Duration::from_millis(20)),
    );
    server
        .register_service(ArithContract::service(Calculator))
        .unwrap();
    server.start().await.unwrap();
    let reclaimed = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_eq!(
        attr(&reclaimed, "clamator.delivery_count").as_deref(),
        Some("2"),
        "read by the crashed consumer, then reclaimed"
    );
    exporter.reset();
    let client =
        RedisRpcClient::new(RedisClientOptions::new(keys.prefix()).with_redis_url(keys.url()));
    client.start().await.unwrap();
    client
        .call_raw("arith", "add", json!({"a": 2, "b": 2}), None)
        .await
        .unwrap();
    let first = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_eq!(attr(&first, "clamator.delivery_count"), None);
    client.stop().await;
    server.stop(DEFAULT_STOP_GRACE).await;
}

/// Writes a request as a peer does (no trace fields, or hostile ones) and waits for its reply.
async fn peer_request(keys: &TestPrefix, id: &str, extra: &[(&str, &str)]) {
    // No response timeout: the XREAD below blocks until the reply comes.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut con = redis::Client::open(keys.url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let reply_to = clamator::redis::keys::reply_stream(keys.prefix(), "peer");
    let envelope = json!({"jsonrpc": "2.0", "id": id, "method": "arith.add",
        "params": {"a": 2, "b": 2}})
    .to_string();
    // The peer's reply stream, opened with one entry so the read below starts after it.
    let opened: String = redis::cmd("XADD")
        .arg(&reply_to)
        .arg("*")
        .arg("hello")
        .arg("1")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(clamator::redis::keys::command_stream(
        keys.prefix(),
        "arith",
    ))
    .arg("*")
    .arg("type")
    .arg("rpc")
    .arg("envelope")
    .arg(&envelope)
    .arg("reply-to")
    .arg(&reply_to);
    for (k, v) in extra {
        cmd.arg(*k).arg(*v);
    }
    let _: String = cmd.query_async(&mut con).await.unwrap();
    // Blocks until the server's reply lands (an event, not a sleep).
    let reply: redis::Value = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(10_000)
        .arg("STREAMS")
        .arg(&reply_to)
        .arg(&opened)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!matches!(reply, redis::Value::Nil), "the peer got a reply");
    let _: i64 = redis::cmd("DEL")
        .arg(&reply_to)
        .query_async(&mut con)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_peer_request_without_trace_fields_starts_a_fresh_trace() {
    let (exporter, _provider, _guard) = tracing_to_memory();
    let keys = TestPrefix::new(shared_url().unwrap(), "otel-peer");
    let (server, client) = redis_pair(&keys).await;

    peer_request(&keys, "peer-1", &[]).await;
    let s = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_eq!(
        s.parent_span_id,
        SpanId::INVALID,
        "a root span: a new trace"
    );
    assert_eq!(
        attr(&s, "rpc.jsonrpc.request_id").as_deref(),
        Some("peer-1")
    );
    exporter.reset();

    // Hostile values are ignored: still a root span, never a panic or a borrowed id.
    for bad in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "not a traceparent at all",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ninjected",
    ] {
        peer_request(
            &keys,
            "peer-2",
            &[("traceparent", bad), ("tracestate", "\u{0}")],
        )
        .await;
        let s = span_named(&exporter, "arith/add", SpanKind::Server).await;
        assert_eq!(s.parent_span_id, SpanId::INVALID, "{bad:?} ignored");
        exporter.reset();
    }

    // A valid one from a peer's tracer is continued.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    peer_request(
        &keys,
        "peer-3",
        &[("traceparent", tp), ("tracestate", "congo=t61")],
    )
    .await;
    let s = span_named(&exporter, "arith/add", SpanKind::Server).await;
    assert_eq!(
        s.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(s.parent_span_id.to_string(), "00f067aa0ba902b7");

    client.stop().await;
    server.stop(DEFAULT_STOP_GRACE).await;
}
