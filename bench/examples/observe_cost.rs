//! Instructions per in-process call with tracing and metrics on, next to off: the cost the
//! library adds, without the scheduling noise a throughput run on a shared machine has.
//!
//! ```sh
//! cargo build --release -p clamator-bench --features metrics --example observe_cost
//! for mode in off tracing metrics both; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/observe_cost $mode 20000 2>&1 | grep Collected
//! done
//! ```
//!
//! Divide "Collected" by the call count. `tracing` is the `--observe` subscriber (`fmt` at
//! `info`, plain text, to a sink; `CLAMATOR_BENCH_ANSI=1` adds colours), `metrics` the
//! Prometheus recorder. Without valgrind it prints wall time per call.

use std::sync::Arc;
use std::time::Instant;

use clamator_interop::contracts::{AddParams, ArithContract};
use clamator_interop::handlers::{self, Counters};
use clamator_over_memory::MemoryBus;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "off".into());
    let calls: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    if mode == "tracing" || mode == "both" {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(std::env::var_os("CLAMATOR_BENCH_ANSI").is_some())
            .with_writer(std::io::sink)
            .init();
    }
    if mode == "metrics" || mode == "both" {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::set_global_recorder(recorder).expect("the only recorder");
    }
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(handlers::arith(Arc::new(Counters::default())))
        .expect("one service");
    server.start().await.expect("memory server starts");
    let client = bus.client();
    client.start().await.expect("memory client starts");
    let started = Instant::now();
    for a in 0..calls {
        let params = AddParams {
            a: f64::from(a),
            b: 1.0,
        };
        client
            .call(ArithContract::ADD, &params)
            .await
            .expect("add answers");
    }
    let per_call = started.elapsed() / calls;
    println!("{mode}: {calls} calls, {per_call:?} per call");
}
