//! The interop `arith` and `notifications` contracts behind an HTTP gateway, typed: its
//! OpenAPI document has their JSON Schemas.
//!
//! ```text
//! cargo run -p clamator-gateway --example arith_gateway -- --listen 127.0.0.1:8080 --prefix demo
//!     [--redis-url redis://127.0.0.1:6379] [--with-server] [--forward-any] [--bearer-token SECRET]
//! curl -s -X POST localhost:8080/rpc/arith/add -d '{"a":1,"b":2}'      # {"sum":3.0}
//! curl -s localhost:8080/openapi.json
//! ```
//!
//! Without `--redis-url` the bus is in memory, served from this process (a self-contained
//! demo) by [`Demo`]: the interop behaviour, except that a result that is not a finite number
//! (`add` or `divide` overflowing to infinity, which JSON cannot carry) is refused with
//! `-32000 result out of range` (422 here) instead of the interop handlers' `-32603 Result
//! validation failed` (500). schemathesis found that one with huge generated operands. With `--redis-url` the gateway calls whatever serves
//! `arith` under the prefix (`--with-server` also serves it from this process).
//!
//! `--bearer-token` shows how authentication goes in front: a tower layer (here axum's
//! `middleware::from_fn_with_state`) that answers 401 unless `Authorization: Bearer <token>`,
//! leaving `/healthz` open. The gateway itself has no auth built in.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use clamator::memory::MemoryBus;
use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::AnyClient;
use clamator::{HandlerError, RpcError};
use clamator_gateway::{Gateway, StatusMap};
use clamator_interop::contracts::{
    AddParams, Arith, ArithContract, Notifications, NotificationsContract, PingParams,
    QuotientResult, SlowAddParams, SumResult, Text,
};
use clap::Parser;

/// The interop `arith` contract behind an HTTP gateway.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// clamator key prefix.
    #[arg(long, default_value = "demo")]
    prefix: String,
    /// Redis URL; without it the bus is in memory and served from this process.
    #[arg(long)]
    redis_url: Option<String>,
    /// With --redis-url: also serve `arith` and `notifications` from this process.
    #[arg(long)]
    with_server: bool,
    /// Call timeout without a Request-Timeout header, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Largest Request-Timeout honoured, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    max_timeout_ms: u64,
    /// Also forward methods outside the typed contracts, untyped (as the binary does).
    #[arg(long)]
    forward_any: bool,
    /// Require `Authorization: Bearer <token>` (the example auth layer).
    #[arg(long)]
    bearer_token: Option<String>,
}

/// The demo's handlers: the interop ones, with non-finite results refused (see the top).
struct Demo;

fn finite(x: f64) -> Result<f64, RpcError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(RpcError::new(-32000, "result out of range"))
    }
}

impl Arith for Demo {
    async fn add(&self, p: AddParams) -> Result<SumResult, HandlerError> {
        Ok(SumResult {
            sum: finite(p.a + p.b)?,
        })
    }

    async fn divide(&self, p: AddParams) -> Result<QuotientResult, RpcError> {
        if p.b == 0.0 {
            return Err(RpcError::new(-32000, "division by zero"));
        }
        Ok(QuotientResult {
            q: finite(p.a / p.b)?,
        })
    }

    async fn echo_text(&self, p: Text) -> Result<Text, HandlerError> {
        Ok(p)
    }

    async fn slow_add(&self, p: SlowAddParams) -> Result<SumResult, HandlerError> {
        tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
        Ok(SumResult {
            sum: finite(p.a + p.b)?,
        })
    }
}

impl Notifications for Demo {
    async fn ping(&self, _p: PingParams) {}
}

/// The example auth layer: constant-time-enough for a demo, a real one would also log.
async fn require_bearer(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if presented.is_some_and(|p| p.as_bytes() == token.as_bytes()) {
        return next.run(request).await;
    }
    let body =
        serde_json::json!({"error": {"kind": "unauthorized", "message": "bearer token required"}});
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(body),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut redis_server = None;
    let mut memory_server = None;
    let mut probe_client = None;
    let client: AnyClient = match &args.redis_url {
        Some(url) => {
            if args.with_server {
                let server = RedisRpcServer::new(
                    RedisServerOptions::new(args.prefix.clone()).with_redis_url(url.clone()),
                );
                server.register_service(ArithContract::service(Demo))?;
                server.register_service(NotificationsContract::service(Demo))?;
                server.start().await?;
                redis_server = Some(server);
            }
            probe_client = Some(redis::Client::open(url.as_str())?);
            RedisRpcClient::new(
                RedisClientOptions::new(args.prefix.clone()).with_redis_url(url.clone()),
            )
            .into()
        }
        None => {
            let bus = MemoryBus::new();
            let server = bus.server();
            server.register_service(ArithContract::service(Demo))?;
            server.register_service(NotificationsContract::service(Demo))?;
            server.start().await?;
            memory_server = Some(server);
            bus.client().into()
        }
    };
    client.start().await?;

    let mut builder = Gateway::builder(client.clone())
        .method(ArithContract::ADD)
        .method(ArithContract::DIVIDE)
        .method(ArithContract::ECHO_TEXT)
        .method(ArithContract::SLOW_ADD)
        .notification(NotificationsContract::PING)
        // -32000 ("division by zero", "result out of range"): the caller's input, so 422.
        .status_map(StatusMap::default().with_code(-32000, StatusCode::UNPROCESSABLE_ENTITY))
        .default_timeout(Duration::from_millis(args.timeout_ms))
        .max_timeout(Duration::from_millis(args.max_timeout_ms))
        .forward_any(args.forward_any)
        .info(
            "arith gateway (clamator interop contract)",
            env!("CARGO_PKG_VERSION"),
        );
    if let Some(redis) = probe_client {
        builder = builder.health_probe(move || clamator_gateway::redis_ping(redis.clone()));
    }
    let mut app = builder.build()?;
    if let Some(token) = &args.bearer_token {
        let token: Arc<str> = Arc::from(token.as_str());
        app = app.layer(middleware::from_fn_with_state(token, require_bearer));
    }

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let transport = if args.redis_url.is_some() {
        "redis"
    } else {
        "memory"
    };
    println!(
        "arith_gateway listening on http://{} ({transport} bus, prefix {})",
        listener.local_addr()?,
        args.prefix
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    client.stop().await;
    if let Some(server) = redis_server {
        server.stop(Duration::from_secs(1)).await;
    }
    if let Some(server) = memory_server {
        server.stop(Duration::from_secs(1)).await;
    }
    Ok(())
}
