//! `Dispatcher::dispatch` of an `arith.add` request (params validation, handler, result
//! serialisation), and the same from JSON text to JSON text as a transport does it. The handler
//! is ready at once, so the future is polled once without a runtime (`now_or_never`): the
//! figures are the dispatcher's own cost.
#![forbid(unsafe_code)]
#![allow(missing_docs)] // criterion_group! defines an undocumented `pub fn benches`.
use std::sync::Arc;

use clamator_interop::handlers::{self, Counters};
use clamator_protocol::{Dispatcher, Envelope, Id, InFlight, Request};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use serde_json::json;

const REQUEST: &str = r#"{"jsonrpc":"2.0","id":"6f1c7a4e-3b1d-4a57-9f5e-2d8c1b0a9e33","method":"arith.add","params":{"a":1,"b":2}}"#;

fn dispatch(c: &mut Criterion) {
    let service = handlers::arith(Arc::new(Counters::default()));
    let dispatcher = Dispatcher::new(service, InFlight::default());
    let request = Envelope::Request(Request {
        id: Id::from("6f1c7a4e-3b1d-4a57-9f5e-2d8c1b0a9e33"),
        service: "arith".into(),
        method: "add".into(),
        params: json!({"a": 1, "b": 2}),
    });
    let run = |env: Envelope| {
        dispatcher
            .dispatch(env)
            .now_or_never()
            .expect("add is ready at once")
            .expect("a request is answered")
    };
    c.bench_function("dispatch add", |b| {
        b.iter(|| run(black_box(request.clone())));
    });
    c.bench_function("parse + dispatch + to_json add", |b| {
        b.iter(|| {
            let env = Envelope::parse(black_box(REQUEST)).unwrap();
            Envelope::Response(run(env)).to_json()
        });
    });
    let unknown = Envelope::Request(Request {
        id: Id::from("1"),
        service: "arith".into(),
        method: "nope".into(),
        params: json!({}),
    });
    c.bench_function("dispatch unknown method", |b| {
        b.iter(|| run(black_box(unknown.clone())));
    });
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
