//! The pieces of one in-memory `arith.add` call, to see where a memory-transport call spends its
//! time: id generation, params to JSON value, result from JSON value, one task spawn, one timer,
//! and the whole call through `MemoryBus` (measured in a loop inside one runtime, so the runtime
//! entry is not counted per call).
#![forbid(unsafe_code)]
#![allow(missing_docs)] // criterion_group! defines an undocumented `pub fn benches`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_interop::contracts::{AddParams, ArithContract, SumResult};
use clamator_interop::handlers::{self, Counters};
use clamator_over_memory::MemoryBus;
use clamator_protocol::{omit_none, Id};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde::Deserialize;
use serde_json::json;

fn call_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let params = AddParams { a: 1.0, b: 2.0 };
    c.bench_function("Id::new_uuid", |b| b.iter(Id::new_uuid));
    c.bench_function("omit_none::to_value(AddParams)", |b| {
        b.iter(|| omit_none::to_value(black_box(&params)).unwrap());
    });
    c.bench_function("serde_json::to_value(AddParams)", |b| {
        b.iter(|| serde_json::to_value(black_box(&params)).unwrap());
    });
    let value = json!({"a": 1, "b": 2});
    c.bench_function("AddParams::deserialize(&Value)", |b| {
        b.iter(|| AddParams::deserialize(black_box(&value)).unwrap());
    });
    c.bench_function(
        "serde_path_to_error::deserialize::<AddParams>(&Value)",
        |b| b.iter(|| serde_path_to_error::deserialize::<_, AddParams>(black_box(&value)).unwrap()),
    );
    c.bench_function("validation::decode_params::<AddParams>", |b| {
        b.iter(|| {
            clamator_protocol::validation::decode_params::<AddParams>(black_box(&value)).unwrap()
        });
    });
    let sum = SumResult { sum: 3.0 };
    c.bench_function("validation::encode_result(SumResult)", |b| {
        b.iter(|| clamator_protocol::validation::encode_result(black_box(&sum)).unwrap());
    });
    let result = json!({"sum": 3.0});
    c.bench_function("SumResult::deserialize(Value)", |b| {
        b.iter(|| SumResult::deserialize(black_box(result.clone())).unwrap());
    });
    c.bench_function("tokio::spawn + await (current_thread)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::spawn(async { 1u8 }).await.unwrap();
                }
                t.elapsed()
            })
        });
    });
    c.bench_function("tokio::time::timeout(30 s, ready)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    tokio::time::timeout(Duration::from_secs(30), async { 1u8 })
                        .await
                        .unwrap();
                }
                t.elapsed()
            })
        });
    });
    let bus = MemoryBus::new();
    let server = bus.server();
    let client = bus.client();
    rt.block_on(async {
        server
            .register_service(handlers::arith(Arc::new(Counters::default())))
            .unwrap();
        server.start().await.unwrap();
        client.start().await.unwrap();
    });
    c.bench_function("memory call add (whole)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    client.call(ArithContract::ADD, &params).await.unwrap();
                }
                t.elapsed()
            })
        });
    });
}

criterion_group!(benches, call_path);
criterion_main!(benches);
