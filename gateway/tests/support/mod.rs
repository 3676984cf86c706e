//! Shared by the gateway's HTTP tests: a real Redis (the interop suite's `RedisForTests`:
//! `REDIS_URL`, else a private `redis-server` on a free loopback port; the tests fail when
//! neither exists), a Rust server for the interop `arith` contract and the `desk` test service,
//! and the gateway on `127.0.0.1:0`, reached with reqwest.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::{AnyClient, HandlerError, JsonSchema, RpcError};
use clamator_gateway::GatewayBuilder;
use clamator_interop::contracts::ArithContract;
use clamator_interop::runner::env::RedisForTests;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Mutex};

/// Params of `desk.refuse`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct RefuseParams {
    /// The refusal reason to answer with; `None` answers `ok: true`.
    pub reason: Option<String>,
}

/// A result union: `{"ok": true, "id": …}` or `{"ok": false, "reason": …}`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(untagged)]
pub(crate) enum Outcome {
    /// Done.
    Done { ok: bool, id: String },
    /// Refused.
    Refused { ok: bool, reason: String },
}

/// Params of `desk.fail`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct FailParams {
    /// The error code to answer with.
    pub code: i64,
}

/// Params of `desk.crash` and results without content.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct Empty {}

/// Params of `desk.slow`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct SlowParams {
    /// How long the handler sleeps before answering.
    pub ms: u64,
}

/// Params of `desk.note`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub(crate) struct Note {
    /// Sent to the test.
    pub text: String,
}

/// The test service: one method per outcome the gateway maps.
#[clamator::service(name = "desk")]
pub(crate) trait Desk {
    /// Answers the refusal union.
    async fn refuse(&self, params: RefuseParams) -> Result<Outcome, HandlerError>;
    /// Fails with the given code.
    async fn fail(&self, params: FailParams) -> Result<Empty, RpcError>;
    /// Fails with a non-RPC error: -32603.
    async fn crash(&self, params: Empty) -> Result<Empty, HandlerError>;
    /// Answers after `ms`.
    async fn slow(&self, params: SlowParams) -> Result<Empty, HandlerError>;
    /// Notification: its text goes to the test.
    #[clamator(notification)]
    async fn note(&self, params: Note);
}

struct DeskImpl {
    notes: mpsc::UnboundedSender<String>,
}

impl Desk for DeskImpl {
    async fn refuse(&self, p: RefuseParams) -> Result<Outcome, HandlerError> {
        Ok(match p.reason {
            None => Outcome::Done {
                ok: true,
                id: "job-1".into(),
            },
            Some(reason) => Outcome::Refused { ok: false, reason },
        })
    }
    async fn fail(&self, p: FailParams) -> Result<Empty, RpcError> {
        Err(RpcError::new(p.code, format!("failed with {}", p.code)))
    }
    async fn crash(&self, _p: Empty) -> Result<Empty, HandlerError> {
        Err(HandlerError::internal("Crash", "the handler broke"))
    }
    async fn slow(&self, p: SlowParams) -> Result<Empty, HandlerError> {
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        Ok(Empty {})
    }
    async fn note(&self, p: Note) {
        let _ = self.notes.send(p.text);
    }
}

/// Registers the `desk` and interop `arith` methods on a gateway builder.
pub(crate) fn typed(b: GatewayBuilder) -> GatewayBuilder {
    b.method(DeskContract::REFUSE)
        .method(DeskContract::FAIL)
        .method(DeskContract::CRASH)
        .method(DeskContract::SLOW)
        .notification(DeskContract::NOTE)
        .method(ArithContract::ADD)
        .method(ArithContract::DIVIDE)
        .method(ArithContract::ECHO_TEXT)
        .method(ArithContract::SLOW_ADD)
}

/// A unique key prefix per test, so tests sharing a Redis never see each other's streams.
pub(crate) fn prefix(name: &str) -> String {
    format!("gw-test-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// A running gateway: its base URL and the client behind it.
pub(crate) struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bus client the gateway calls through.
    pub client: AnyClient,
    /// Plain HTTP client.
    pub http: reqwest::Client,
    serve: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Starts `client`, builds the gateway with `configure`, serves it on a free port.
    pub(crate) async fn serve(
        client: AnyClient,
        configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Self {
        client.start().await.expect("client start");
        let app = configure(clamator_gateway::Gateway::builder(client.clone()))
            .build()
            .expect("gateway builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            client,
            http: reqwest::Client::new(),
            serve,
        }
    }

    /// `POST /rpc/{service}/{method}` with a JSON body.
    pub(crate) async fn rpc(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}/rpc/{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, value)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

/// Redis, a Rust server (`desk` + interop `arith`) and the gateway in front.
pub(crate) struct RedisStack {
    pub redis: RedisForTests,
    pub prefix: String,
    pub server: Arc<RedisRpcServer>,
    pub gateway: Gateway,
    /// Texts of the `desk.note` notifications the server received.
    pub notes: Mutex<mpsc::UnboundedReceiver<String>>,
}

impl RedisStack {
    /// Starts everything; `configure` adds to the typed registration of [`typed`].
    pub(crate) async fn start(
        name: &str,
        configure: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
    ) -> Self {
        let redis = RedisForTests::find_or_start()
            .unwrap_or_else(|e| panic!("these tests need a real Redis: {e}"));
        let prefix = prefix(name);
        let (tx, rx) = mpsc::unbounded_channel();
        let server = RedisRpcServer::new(
            RedisServerOptions::new(prefix.clone()).with_redis_url(redis.url.clone()),
        );
        server
            .register_service(DeskContract::service(DeskImpl { notes: tx }))
            .expect("register desk");
        server
            .register_service(clamator_interop::handlers::arith(Default::default()))
            .expect("register arith");
        server.start().await.expect("server start");
        let client: AnyClient = RedisRpcClient::new(
            RedisClientOptions::new(prefix.clone()).with_redis_url(redis.url.clone()),
        )
        .into();
        let gateway = Gateway::serve(client, |b| configure(typed(b))).await;
        Self {
            redis,
            prefix,
            server: Arc::new(server),
            gateway,
            notes: Mutex::new(rx),
        }
    }

    /// Stops the server and the client.
    pub(crate) async fn stop(&self) {
        self.gateway.client.stop().await;
        self.server.stop(Duration::from_millis(500)).await;
    }
}
