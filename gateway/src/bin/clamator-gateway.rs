//! `clamator-gateway`: an HTTP gateway forwarding any `service.method` to a clamator bus on
//! Redis, untyped (no contracts compiled in), for quick use.
//!
//! ```text
//! clamator-gateway --listen 127.0.0.1:8080 --prefix demo --redis-url redis://127.0.0.1:6379
//! curl -X POST localhost:8080/rpc/arith/add -d '{"a":1,"b":2}'
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use clamator::redis::{RedisClientOptions, RedisRpcClient};
use clamator::AnyClient;
use clamator_gateway::{Gateway, StatusMap, DEFAULT_BODY_LIMIT};
use clap::Parser;

/// Forwards HTTP calls to any clamator service on Redis.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// clamator key prefix of the bus.
    #[arg(long)]
    prefix: String,
    /// Redis URL.
    #[arg(long, default_value = clamator::redis::DEFAULT_URL)]
    redis_url: String,
    /// Body size limit in bytes.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Call timeout when the request has no Request-Timeout header, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Largest Request-Timeout honoured, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    max_timeout_ms: u64,
    /// Application code → HTTP status, e.g. `-32000=422` (repeatable).
    #[arg(long = "code-status", value_parser = parse_code_status)]
    code_status: Vec<(i64, StatusCode)>,
}

fn parse_code_status(s: &str) -> Result<(i64, StatusCode), String> {
    let (code, status) = s
        .split_once('=')
        .ok_or_else(|| format!("expected CODE=STATUS, got {s:?}"))?;
    let code = code.trim().parse().map_err(|e| format!("code: {e}"))?;
    let status = status
        .trim()
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("bad status in {s:?}"))?;
    Ok((code, status))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let client: AnyClient = RedisRpcClient::new(
        RedisClientOptions::new(args.prefix.clone()).with_redis_url(args.redis_url.clone()),
    )
    .into();
    client.start().await?;
    let statuses = args
        .code_status
        .iter()
        .fold(StatusMap::default(), |m, (c, s)| m.with_code(*c, *s));
    let redis = redis::Client::open(args.redis_url.as_str())?;
    let app = Gateway::builder(client.clone())
        .forward_any(true)
        .status_map(statuses)
        .body_limit(args.body_limit)
        .default_timeout(Duration::from_millis(args.timeout_ms))
        .max_timeout(Duration::from_millis(args.max_timeout_ms))
        .info("clamator-gateway", env!("CARGO_PKG_VERSION"))
        .health_probe(move || clamator_gateway::redis_ping(redis.clone()))
        .build()?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!(
        "clamator-gateway listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    client.stop().await;
    Ok(())
}
