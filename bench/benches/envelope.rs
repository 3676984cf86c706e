//! `Envelope::parse` and `Envelope::to_json` on the envelopes an `add` call puts on the wire.
#![forbid(unsafe_code)]
#![allow(missing_docs)] // criterion_group! defines an undocumented `pub fn benches`.
use clamator_protocol::{Envelope, Id, Request, Response};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

const REQUEST: &str = r#"{"jsonrpc":"2.0","id":"6f1c7a4e-3b1d-4a57-9f5e-2d8c1b0a9e33","method":"arith.add","params":{"a":1,"b":2}}"#;
const RESPONSE: &str =
    r#"{"jsonrpc":"2.0","id":"6f1c7a4e-3b1d-4a57-9f5e-2d8c1b0a9e33","result":{"sum":3.0}}"#;

fn envelope(c: &mut Criterion) {
    c.bench_function("parse request (add)", |b| {
        b.iter(|| Envelope::parse(black_box(REQUEST)).unwrap());
    });
    c.bench_function("parse response (add)", |b| {
        b.iter(|| Envelope::parse(black_box(RESPONSE)).unwrap());
    });
    let echo = json!({"jsonrpc": "2.0", "id": "x", "method": "arith.echoText",
        "params": {"text": "x".repeat(64 * 1024)}})
    .to_string();
    c.bench_function("parse request (echoText 64 KiB)", |b| {
        b.iter(|| Envelope::parse(black_box(&echo)).unwrap());
    });
    let request = Envelope::Request(Request {
        id: Id::new_uuid(),
        service: "arith".into(),
        method: "add".into(),
        params: json!({"a": 1, "b": 2}),
    });
    c.bench_function("to_json request (add)", |b| {
        b.iter(|| black_box(&request).to_json());
    });
    let response = Envelope::Response(Response {
        id: json!("6f1c7a4e-3b1d-4a57-9f5e-2d8c1b0a9e33"),
        outcome: Ok(json!({"sum": 3.0})),
    });
    c.bench_function("to_json response (add)", |b| {
        b.iter(|| black_box(&response).to_json());
    });
}

criterion_group!(benches, envelope);
criterion_main!(benches);
