//! An HTTP gateway in front of a clamator bus, on axum + tower.
//!
//! "Gateway-to-engine RPC" is one of clamator's named uses, and the clamator documentation says
//! how such a gateway should translate outcomes to HTTP ("Common gateway integration"). This
//! crate is that translation, once, so no team writes it by hand:
//!
//! * `POST /rpc/{service}/{method}`: the JSON body is the params, the JSON answer is the
//!   result; the status follows [`StatusMap`] (reserved codes, application codes, result-union
//!   refusals) and transport failures (timeout → 504, no server or stopped → 503).
//! * `POST /jsonrpc`: a JSON-RPC 2.0 request (answered with the JSON-RPC response) or
//!   notification (202), so any JSON-RPC-over-HTTP client reaches the bus.
//! * `GET /openapi.json`: an OpenAPI 3.1 document generated from the registered methods' JSON
//!   Schemas; `GET /healthz`.
//! * A body size limit (413), a `Request-Timeout` header capped by a maximum, an echoed (or
//!   generated) `x-request-id`, malformed JSON → 400 with a JSON error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use clamator::redis::{RedisClientOptions, RedisRpcClient};
//! use clamator::{AnyClient, Method};
//! # #[derive(serde::Serialize, serde::Deserialize, clamator::JsonSchema)]
//! # #[schemars(crate = "clamator::schemars")]
//! # struct AddParams { a: f64, b: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize, clamator::JsonSchema)]
//! # #[schemars(crate = "clamator::schemars")]
//! # struct SumResult { sum: f64 }
//! # const ADD: Method<AddParams, SumResult> = Method::new("arith", "add");
//!
//! let client: AnyClient = RedisRpcClient::new(RedisClientOptions::new("demo")).into();
//! client.start().await?;
//! let app = clamator_gateway::Gateway::builder(client)
//!     .method(ADD) // e.g. `ArithContract::ADD` from `#[clamator::service]`
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Authentication is the application's: wrap the router in any tower layer (the
//! `arith_gateway` example has a bearer-token one, see the README).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod handlers;
mod openapi;
mod status;
mod timeout;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clamator::schemars::generate::{SchemaGenerator, SchemaSettings};
use clamator::schemars::JsonSchema;
use clamator::{AnyClient, Contract, Method, MethodKind, NotificationMethod};
use serde_json::Value;

pub use status::{refusal_reason, StatusMap};
pub use timeout::parse_request_timeout;

/// The header carrying a per-request timeout (`2s`, `250ms`, see [`parse_request_timeout`]).
pub const REQUEST_TIMEOUT_HEADER: &str = "request-timeout";

/// The request-id header, echoed on every answer (generated when the request has none), so a
/// caller's logs and the gateway's can be joined.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Default body size limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Default cap of `Request-Timeout`: 60 s.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// A boxed health probe result: `Err` says why the bus is not reachable.
pub type HealthFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

type HealthProbe = Arc<dyn Fn() -> HealthFuture + Send + Sync>;

/// Entry point: [`Gateway::builder`].
#[derive(Debug)]
pub struct Gateway;

impl Gateway {
    /// Starts a gateway over `client` (memory or Redis, any transport through [`AnyClient`]).
    /// The client must be started by the caller, who also stops it.
    pub fn builder(client: impl Into<AnyClient>) -> GatewayBuilder {
        GatewayBuilder::new(client.into())
    }
}

/// One method the gateway exposes, with what the OpenAPI document says about it.
#[derive(Debug, Clone)]
pub(crate) struct MethodEntry {
    pub(crate) kind: MethodKind,
    /// The contract's own `(service, method)`: `'static`, so calls forwarded under them are
    /// labelled with them in the client's metrics.
    pub(crate) names: (&'static str, &'static str),
    /// JSON Schema of the params (`$ref`s into `#/components/schemas`).
    pub(crate) params: Value,
    /// JSON Schema of the result; `None` for notifications.
    pub(crate) result: Option<Value>,
}

/// service → method → entry.
pub(crate) type Methods = BTreeMap<String, BTreeMap<String, MethodEntry>>;

/// Why a gateway could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The same `service.method` was registered twice.
    Duplicate(String),
    /// A name no clamator peer accepts.
    InvalidName(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duplicate(m) => write!(f, "method {m} registered twice"),
            Self::InvalidName(m) => write!(f, "invalid service or method name {m}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Configures a gateway; [`build`](Self::build) gives the `axum::Router`.
#[must_use]
pub struct GatewayBuilder {
    client: AnyClient,
    generator: SchemaGenerator,
    methods: Methods,
    errors: Vec<BuildError>,
    forward_any: bool,
    statuses: StatusMap,
    body_limit: usize,
    default_timeout: Option<Duration>,
    max_timeout: Duration,
    title: String,
    version: String,
    health: Option<HealthProbe>,
}

impl fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("methods", &self.methods.keys().collect::<Vec<_>>())
            .field("forward_any", &self.forward_any)
            .field("statuses", &self.statuses)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    fn new(client: AnyClient) -> Self {
        // OpenAPI 3.1 schemas are JSON Schema 2020-12; shared definitions go to components.
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas/".into();
            s.meta_schema = None;
        });
        Self {
            client,
            generator: settings.into_generator(),
            methods: Methods::new(),
            errors: Vec::new(),
            forward_any: false,
            statuses: StatusMap::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            default_timeout: None,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            title: "clamator gateway".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            health: None,
        }
    }

    fn insert(&mut self, service: &str, method: &str, entry: MethodEntry) {
        let full = format!("{service}.{method}");
        if !clamator::names::is_valid_service(service) || !clamator::names::is_valid_method(method)
        {
            self.errors.push(BuildError::InvalidName(full));
            return;
        }
        let methods = self.methods.entry(service.to_owned()).or_default();
        if methods.insert(method.to_owned(), entry).is_some() {
            self.errors.push(BuildError::Duplicate(full));
        }
    }

    /// Exposes a request/response method (e.g. `ArithContract::ADD` from
    /// `#[clamator::service]`); its params and result types give the OpenAPI schemas.
    pub fn method<P: JsonSchema, R: JsonSchema>(mut self, method: Method<P, R>) -> Self {
        let params = self.generator.subschema_for::<P>().to_value();
        let result = self.generator.subschema_for::<R>().to_value();
        let entry = MethodEntry {
            names: (method.service(), method.name()),
            kind: MethodKind::Request,
            params,
            result: Some(result),
        };
        self.insert(method.service(), method.name(), entry);
        self
    }

    /// Exposes a notification: `POST /rpc/...` answers 202 once the bus accepted it.
    pub fn notification<P: JsonSchema>(mut self, method: NotificationMethod<P>) -> Self {
        let params = self.generator.subschema_for::<P>().to_value();
        let entry = MethodEntry {
            names: (method.service(), method.name()),
            kind: MethodKind::Notification,
            params,
            result: None,
        };
        self.insert(method.service(), method.name(), entry);
        self
    }

    /// Exposes every method of a runtime [`Contract`] (e.g. a hand-built one) without schemas:
    /// the OpenAPI document says "any JSON" for its params and results.
    pub fn contract(mut self, contract: &Contract) -> Self {
        for m in contract.methods() {
            let entry = MethodEntry {
                names: (contract.service(), m.name()),
                kind: m.kind(),
                params: Value::Object(Default::default()),
                result: (m.kind() == MethodKind::Request)
                    .then(|| Value::Object(Default::default())),
            };
            self.insert(contract.service(), m.name(), entry);
        }
        self
    }

    /// Also forwards methods that were not registered, as requests, untyped (what the
    /// `clamator-gateway` binary does). Off by default: a typed gateway answers 404 for
    /// anything outside its contracts, so it exposes only what it documents.
    pub fn forward_any(mut self, on: bool) -> Self {
        self.forward_any = on;
        self
    }

    /// Replaces the status tables (default: [`StatusMap::default`]).
    pub fn status_map(mut self, statuses: StatusMap) -> Self {
        self.statuses = statuses;
        self
    }

    /// Largest accepted body in bytes; larger ones are answered 413 (default 1 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Timeout of calls without a `Request-Timeout` header (default: the client's default
    /// timeout), itself capped by [`max_timeout`](Self::max_timeout).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// Largest timeout a caller can ask for (default 60 s); longer requests are capped, not
    /// refused, so a client's generous default does not turn into an error.
    pub fn max_timeout(mut self, timeout: Duration) -> Self {
        self.max_timeout = timeout;
        self
    }

    /// `info.title` and `info.version` of the OpenAPI document.
    pub fn info(mut self, title: impl Into<String>, version: impl Into<String>) -> Self {
        self.title = title.into();
        self.version = version.into();
        self
    }

    /// A check run by `GET /healthz` (e.g. a Redis `PING`): `Err(why)` answers 503. Without
    /// one, health is the client's state alone.
    pub fn health_probe<F, Fut>(mut self, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.health = Some(Arc::new(move || Box::pin(probe()) as HealthFuture));
        self
    }

    /// The OpenAPI 3.1 document of what is registered so far.
    pub fn openapi(&self) -> Value {
        openapi::document(self)
    }

    /// The router. Errors list the first bad registration (duplicates, invalid names).
    pub fn build(self) -> Result<axum::Router, BuildError> {
        if let Some(e) = self.errors.first() {
            return Err(e.clone());
        }
        let doc = openapi::document(&self);
        let default_timeout = self
            .default_timeout
            .unwrap_or_else(|| self.client.default_timeout())
            .min(self.max_timeout);
        let state = handlers::Shared {
            client: self.client,
            methods: self.methods,
            forward_any: self.forward_any,
            statuses: self.statuses,
            body_limit: self.body_limit,
            default_timeout,
            max_timeout: self.max_timeout,
            openapi: serde_json::to_vec(&doc).unwrap_or_default().into(),
            health: self.health,
        };
        Ok(handlers::router(Arc::new(state)))
    }
}

/// A [`health_probe`](GatewayBuilder::health_probe) for a Redis bus: `PING` on a fresh
/// connection, bounded by 2 s (the transport's own connections are not exposed).
pub async fn redis_ping(client: redis::Client) -> Result<(), String> {
    let ping = async {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(result) => result,
        Err(_) => Err("redis PING timed out".to_owned()),
    }
}
