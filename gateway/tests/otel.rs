//! Trace context through the gateway (feature `otel`): an incoming W3C `traceparent` header is
//! the parent of the gateway's request span, whose bus call (client span) and the server's span
//! follow as descendants in the same trace, over memory and over a real Redis; a malformed
//! header starts a fresh trace.

mod support;

use std::time::{Duration, Instant};

use clamator::memory::MemoryBus;
use clamator_interop::contracts::ArithContract;
use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use support::{Gateway, RedisStack};
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// Every span of the process to memory: the gateway and the bus run on the runtime's threads,
/// so the subscriber is global (this binary has one test).
fn tracing_to_memory() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("gateway-test"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this binary");
    (exporter, provider)
}

/// The finished spans of `trace`, once its server span (the last to end) is there.
async fn trace_spans(exporter: &InMemorySpanExporter, trace: TraceId) -> Vec<SpanData> {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let spans: Vec<SpanData> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .collect();
        let kinds = [SpanKind::Server, SpanKind::Client];
        if kinds.iter().all(|k| {
            spans
                .iter()
                .any(|s| &s.span_kind == k && s.name == "arith/add")
        }) && spans.iter().any(|s| s.name.starts_with("POST "))
        {
            return spans;
        }
        assert!(
            Instant::now() < give_up,
            "incomplete trace {trace}: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn one<'a>(spans: &'a [SpanData], pick: impl Fn(&SpanData) -> bool, what: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "one {what} span expected: {spans:#?}");
    found[0]
}

/// POSTs `arith/add` with `traceparent`; returns the HTTP status.
async fn add_with(gw: &Gateway, traceparent: &str) -> u16 {
    let resp = gw
        .http
        .post(format!("{}/rpc/arith/add", gw.base))
        .header("traceparent", traceparent)
        .json(&json!({"a": 2, "b": 3}))
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

fn assert_chain(spans: &[SpanData], trace: TraceId, parent: SpanId) {
    let http = one(spans, |s| s.name == "POST /rpc/arith/add", "gateway");
    let client = one(spans, |s| s.span_kind == SpanKind::Client, "client");
    let server = one(
        spans,
        |s| s.span_kind == SpanKind::Server && s.name == "arith/add",
        "server",
    );
    assert_eq!(http.span_kind, SpanKind::Server);
    assert_eq!(http.span_context.trace_id(), trace, "the header's trace");
    assert_eq!(
        http.parent_span_id, parent,
        "the header's span is the gateway span's parent"
    );
    assert_eq!(
        client.parent_span_id,
        http.span_context.span_id(),
        "bus call inside the request"
    );
    assert_eq!(
        server.parent_span_id,
        client.span_context.span_id(),
        "server under the call"
    );
    assert_eq!(server.span_context.trace_id(), trace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_traceparent_is_the_root_of_the_bus_call() {
    let (exporter, _provider) = tracing_to_memory();
    let trace = TraceId::from_hex(TRACE).unwrap();
    let parent = SpanId::from_hex(PARENT).unwrap();
    let header = format!("00-{TRACE}-{PARENT}-01");

    // Memory bus.
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(clamator_interop::handlers::arith(Default::default()))
        .unwrap();
    server.start().await.unwrap();
    let gw = Gateway::serve(bus.client().into(), |b| b.method(ArithContract::ADD)).await;
    assert_eq!(add_with(&gw, &header).await, 200);
    assert_chain(&trace_spans(&exporter, trace).await, trace, parent);
    server.stop(Duration::from_millis(500)).await;
    exporter.reset();

    // Redis: the context crosses the stream as entry fields.
    let s = RedisStack::start("otel", |b| b).await;
    assert_eq!(add_with(&s.gateway, &header).await, 200);
    assert_chain(&trace_spans(&exporter, trace).await, trace, parent);

    // A malformed header is ignored: the request starts its own trace.
    exporter.reset();
    let bad = format!("00-{}-{PARENT}-01", TRACE.to_uppercase());
    assert_eq!(add_with(&s.gateway, &bad).await, 200);
    let give_up = Instant::now() + Duration::from_secs(10);
    let http = loop {
        let spans = exporter.get_finished_spans().unwrap();
        if let Some(h) = spans.into_iter().find(|s| s.name == "POST /rpc/arith/add") {
            break h;
        }
        assert!(Instant::now() < give_up, "no gateway span");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_ne!(http.span_context.trace_id(), trace);
    assert_eq!(http.parent_span_id, SpanId::INVALID, "{http:#?}");
    s.stop().await;
}
