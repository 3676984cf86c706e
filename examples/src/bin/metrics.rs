//! Serves Prometheus metrics of a Redis server and client at `http://127.0.0.1:9000/metrics`
//! while the client calls `arith` in a loop (successes, application errors, unknown methods),
//! so every panel of `dashboards/clamator.json` has data.
//!
//! Run: `cargo run -p clamator-examples --features metrics --bin metrics` (Redis from
//! `REDIS_URL`, else `redis://localhost:6379`; listen address from `METRICS_ADDR`), then
//! `curl -s localhost:9000/metrics | grep clamator_`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator_examples::arith::{AddParams, ArithClient, ArithContract, Calculator};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::var("METRICS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9000".into())
        .parse()?;
    // Buckets for the `*_seconds` histograms, so Grafana can take quantiles across instances
    // (without them the exporter renders summaries).
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ],
        )?
        .install()?;
    // After the recorder exists: help text and units for every clamator metric.
    clamator::metrics::describe();

    let prefix = std::env::var("CLAMATOR_PREFIX").unwrap_or_else(|_| "metrics-demo".into());
    let server = RedisRpcServer::new(RedisServerOptions::new(&prefix));
    server.register_service(ArithContract::service(Calculator))?;
    server.start().await?;
    let client = Arc::new(RedisRpcClient::new(RedisClientOptions::new(&prefix)));
    client.start().await?;
    let arith = ArithClient::new(client.clone());
    eprintln!("metrics at http://{addr}/metrics (Ctrl-C to stop)");

    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut i = 0u64;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {}
        }
        i += 1;
        let b = if i.is_multiple_of(10) { 0.0 } else { 2.0 };
        let _ = arith.add(&AddParams { a: 1.0, b }).await;
        // Every tenth divides by zero: an application error (`code="app"`).
        let _ = arith.divide(&AddParams { a: 1.0, b }).await;
        if i.is_multiple_of(20) {
            // Unknown method: -32601, labelled `_unknown` however it is spelt.
            let _ = client.call_raw("arith", "nope", json!({}), None).await;
        }
    }
    client.stop().await;
    server.stop(Duration::from_secs(5)).await;
    Ok(())
}
