//! The routes: HTTP in, bus call out, status from the [`StatusMap`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clamator::envelope::parse_value_lenient;
use clamator::telemetry::TRACESTATE_FIELD as TRACESTATE_HEADER;
use clamator::telemetry::{self, TRACEPARENT_FIELD as TRACEPARENT_HEADER};
use clamator::{codes, Envelope, Error, MethodKind, RpcError, State as Lifecycle, TransportError};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Map, Value};

use crate::timeout::parse_request_timeout;
use crate::{HealthProbe, Methods, StatusMap, REQUEST_ID_HEADER, REQUEST_TIMEOUT_HEADER};

/// Everything a request needs, shared by all routes.
pub(crate) struct Shared {
    pub(crate) client: clamator::AnyClient,
    pub(crate) methods: Methods,
    pub(crate) forward_any: bool,
    pub(crate) statuses: StatusMap,
    pub(crate) body_limit: usize,
    pub(crate) default_timeout: Duration,
    pub(crate) max_timeout: Duration,
    pub(crate) openapi: Bytes,
    pub(crate) health: Option<HealthProbe>,
}

type Shared_ = Arc<Shared>;

pub(crate) fn router(state: Shared_) -> Router {
    Router::new()
        .route("/rpc/{service}/{method}", post(rpc))
        .route("/jsonrpc", post(jsonrpc))
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// What went wrong, in the gateway's JSON error shape:
/// `{"error": {"kind", "message", "code"?, "data"?}}`.
pub(crate) fn error_body(kind: &str, message: &str, rpc: Option<&RpcError>) -> Value {
    let mut error = Map::new();
    error.insert("kind".into(), Value::from(kind));
    error.insert("message".into(), Value::from(message));
    if let Some(e) = rpc {
        error.insert("code".into(), Value::from(e.code));
        error.insert("data".into(), e.data.clone());
    }
    json!({ "error": error })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        bytes,
    )
        .into_response()
}

fn gateway_error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(status, &error_body(kind, message, None))
}

/// Echoes `x-request-id` (or a fresh UUID), and runs the request in a server span `gateway`. A
/// valid W3C `traceparent` (with its `tracestate`) makes that span, and so the bus call's client
/// span inside it, continue the caller's trace (feature `otel`; over Redis the context then
/// travels as entry fields beside the envelope). A malformed header is ignored (recorded, not
/// trusted): the request starts its own trace.
async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .cloned()
        .or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok());
    let traceparent = request
        .headers()
        .get(TRACEPARENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let name = format!("{} {}", request.method(), request.uri().path());
    let span = tracing::debug_span!(
        "gateway",
        otel.name = %name,
        otel.kind = "server",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
        traceparent = %traceparent,
    );
    let tracestate = request
        .headers()
        .get(TRACESTATE_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Some(parent) = telemetry::TraceContext::parse(&traceparent, tracestate) {
        telemetry::set_remote_parent(&span, &parent);
    }
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Some(id) = id {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), id);
    }
    response
}

async fn not_found() -> Response {
    gateway_error(StatusCode::NOT_FOUND, "not-found", "no such route")
}

async fn openapi(State(state): State<Shared_>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        state.openapi.clone(),
    )
        .into_response()
}

/// `instances` of `/healthz`: the live instances of every exposed service (and, when the
/// gateway forwards any method, of every discovered service), from the client's `discover()`.
async fn instances(state: &Shared) -> Result<Map<String, Value>, String> {
    let found = state
        .client
        .discover(None)
        .await
        .map_err(|e| e.to_string())?;
    let mut by_service: Map<String, Value> = state
        .methods
        .keys()
        .map(|s| (s.clone(), Value::Array(Vec::new())))
        .collect();
    for instance in found {
        let exposed = by_service.contains_key(&instance.service);
        if !exposed && !state.forward_any {
            continue;
        }
        let entry = by_service
            .entry(instance.service.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let (Value::Array(list), Ok(v)) = (entry, serde_json::to_value(&instance)) {
            list.push(v);
        }
    }
    Ok(by_service)
}

async fn healthz(State(state): State<Shared_>) -> Response {
    let client_state = state.client.state();
    let probe = match &state.health {
        Some(probe) => Some(probe().await),
        None => None,
    };
    let healthy = client_state == Lifecycle::Started && !matches!(probe, Some(Err(_)));
    let mut body = Map::new();
    body.insert(
        "status".into(),
        Value::from(if healthy { "ok" } else { "unavailable" }),
    );
    body.insert("client".into(), Value::from(client_state.to_string()));
    match probe {
        Some(Ok(())) => {
            body.insert("bus".into(), Value::from("reachable"));
        }
        Some(Err(why)) => {
            body.insert("bus".into(), Value::from("unreachable"));
            body.insert("reason".into(), Value::from(why));
        }
        None => {}
    }
    body.insert(
        "services".into(),
        Value::from(state.methods.keys().cloned().collect::<Vec<_>>()),
    );
    match instances(&state).await {
        Ok(found) => {
            body.insert("instances".into(), Value::Object(found));
        }
        Err(why) => {
            body.insert("discovery".into(), Value::from(why));
        }
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &Value::Object(body))
}

/// The body, within the limit. `Err` is the 413/400 answer.
async fn read_body(state: &Shared, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        gateway_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            &format!("body larger than {} bytes", state.body_limit),
        )
    };
    // A declared length over the limit is refused before reading a byte.
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > state.body_limit as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, state.body_limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(gateway_error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            &format!("could not read the body: {e}"),
        )),
    }
}

/// The call's timeout: `Request-Timeout` capped by the maximum, else the default.
fn call_timeout(state: &Shared, headers: &HeaderMap) -> Result<Duration, String> {
    let Some(value) = headers.get(REQUEST_TIMEOUT_HEADER) else {
        return Ok(state.default_timeout);
    };
    value
        .to_str()
        .ok()
        .and_then(parse_request_timeout)
        .map(|t| t.min(state.max_timeout))
        .ok_or_else(|| {
            format!(
                "invalid Request-Timeout {:?}: expected e.g. 2s, 250ms, 1.5s or 1m",
                String::from_utf8_lossy(value.as_bytes())
            )
        })
}

/// Where a `service.method` goes, when the gateway forwards it.
#[derive(Clone, Copy)]
struct Route {
    kind: MethodKind,
    /// The registration's `'static` names; `None` for an unregistered method forwarded by
    /// `forward_any` (its names came from the request, so metrics label it `_unknown`).
    names: Option<(&'static str, &'static str)>,
}

/// What the registration says about `service.method`: `Some(route)` to forward it.
fn lookup(state: &Shared, service: &str, method: &str) -> Option<Route> {
    match state.methods.get(service).and_then(|m| m.get(method)) {
        Some(entry) => Some(Route {
            kind: entry.kind,
            names: Some(entry.names),
        }),
        None => state.forward_any.then_some(Route {
            kind: MethodKind::Request,
            names: None,
        }),
    }
}

/// Forwards a call along `route` (under the registration's names when it has them).
async fn forward_call(
    state: &Shared,
    route: Route,
    (service, method): (&str, &str),
    params: Value,
    timeout: Duration,
) -> Result<Value, Error> {
    match route.names {
        Some((s, m)) => {
            state
                .client
                .call_raw_static(s, m, params, Some(timeout))
                .await
        }
        None => {
            state
                .client
                .call_raw(service, method, params, Some(timeout))
                .await
        }
    }
}

/// Forwards a notification along `route`.
async fn forward_notification(
    state: &Shared,
    route: Route,
    (service, method): (&str, &str),
    params: Value,
) -> Result<(), Error> {
    match route.names {
        Some((s, m)) => state.client.notify_raw_static(s, m, params).await,
        None => state.client.notify_raw(service, method, params).await,
    }
}

/// A failed call's HTTP status and error kind (the JSON-RPC error, if any, goes in the body).
fn failure(statuses: &StatusMap, error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::Rpc(e) => (statuses.for_code(e.code), "rpc"),
        Error::Transport(TransportError::Timeout) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        Error::Transport(TransportError::NoServer { .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, "no-server")
        }
        Error::Transport(TransportError::Stopped | TransportError::NotStarted(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "stopped")
        }
        Error::InvalidName(_) => (StatusCode::BAD_REQUEST, "bad-request"),
        // The call may have been carried but its answer was lost or unreadable.
        _ => (StatusCode::BAD_GATEWAY, "transport"),
    }
}

async fn rpc(
    State(state): State<Shared_>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Path((service, method))) = path else {
        return gateway_error(StatusCode::BAD_REQUEST, "bad-request", "bad path");
    };
    let Some(route) = lookup(&state, &service, &method) else {
        return gateway_error(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("{service}.{method} is not exposed by this gateway"),
        );
    };
    let bytes = match read_body(&state, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let timeout = match call_timeout(&state, &headers) {
        Ok(t) => t,
        Err(why) => return gateway_error(StatusCode::BAD_REQUEST, "bad-request", &why),
    };
    // An empty body is `{}`, as an envelope without `params`.
    let params = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_value_lenient(t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                return gateway_error(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("body is not JSON: {e}"),
                )
            }
        }
    };
    if route.kind == MethodKind::Notification {
        return match forward_notification(&state, route, (&service, &method), params).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => {
                let (status, kind) = failure(&state.statuses, &e);
                json_response(status, &error_body(kind, &e.to_string(), e.as_rpc()))
            }
        };
    }
    match forward_call(&state, route, (&service, &method), params, timeout).await {
        Ok(result) => json_response(state.statuses.for_result(&result), &result),
        Err(e) => {
            let (status, kind) = failure(&state.statuses, &e);
            let message = match e.as_rpc() {
                Some(rpc) => rpc.message.clone(),
                None => e.to_string(),
            };
            json_response(status, &error_body(kind, &message, e.as_rpc()))
        }
    }
}

fn rpc_error_envelope(id: Value, code: i64, message: &str, data: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message, "data": data},
    })
}

async fn jsonrpc(State(state): State<Shared_>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_body(&state, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let timeout = match call_timeout(&state, &headers) {
        Ok(t) => t,
        Err(why) => {
            let body = rpc_error_envelope(
                Value::Null,
                codes::INVALID_REQUEST,
                "Invalid Request",
                Value::from(why),
            );
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    let value = match std::str::from_utf8(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|t| parse_value_lenient(t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            let body = rpc_error_envelope(
                Value::Null,
                codes::PARSE_ERROR,
                "Parse error",
                Value::from(e),
            );
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    // The id as the caller wrote it, to echo even when the envelope is refused.
    let raw_id = value.get("id").cloned().unwrap_or(Value::Null);
    let invalid = |why: String| {
        let id = if raw_id.is_string() || raw_id.is_i64() || raw_id.is_u64() {
            raw_id.clone()
        } else {
            Value::Null
        };
        let body = rpc_error_envelope(id, codes::INVALID_REQUEST, "Invalid Request", why.into());
        json_response(StatusCode::BAD_REQUEST, &body)
    };
    let (id, service, method, params) = match Envelope::from_value(value) {
        Ok(Envelope::Request(r)) => (Some(r.id), r.service, r.method, r.params),
        Ok(Envelope::Notification(n)) => (None, n.service, n.method, n.params),
        Ok(Envelope::Response(_)) => {
            return invalid("a response envelope cannot be sent to the gateway".into())
        }
        Err(e) => return invalid(e.reason.to_string()),
    };
    let route = lookup(&state, &service, &method);
    let id_value = id
        .as_ref()
        .and_then(|i| serde_json::to_value(i).ok())
        .unwrap_or(Value::Null);
    // Requests (with an id) go as requests, except to a registered notification method, which
    // the peers never answer; notifications (no id) go as notifications.
    match (id.is_some(), route) {
        (_, None) if id.is_none() => gateway_error(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("{service}.{method} is not exposed by this gateway"),
        ),
        (_, None) => {
            let body = rpc_error_envelope(
                id_value,
                codes::METHOD_NOT_FOUND,
                "Method not found",
                Value::Null,
            );
            json_response(StatusCode::OK, &body)
        }
        (false, Some(route))
        | (
            true,
            Some(
                route @ Route {
                    kind: MethodKind::Notification,
                    ..
                },
            ),
        ) => match forward_notification(&state, route, (&service, &method), params).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => jsonrpc_failure(&state, id_value, &e),
        },
        (true, Some(route)) => {
            match forward_call(&state, route, (&service, &method), params, timeout).await {
                Ok(result) => json_response(
                    StatusCode::OK,
                    &json!({"jsonrpc": "2.0", "id": id_value, "result": result}),
                ),
                Err(e) => jsonrpc_failure(&state, id_value, &e),
            }
        }
    }
}

/// A JSON-RPC error answer: the server's error as it came (HTTP 200: the call was carried),
/// or a gateway failure as `-32603` with `data.kind` and its HTTP status (503, 504, 502).
fn jsonrpc_failure(state: &Shared, id: Value, error: &Error) -> Response {
    if let Some(rpc) = error.as_rpc() {
        let body = rpc_error_envelope(id, rpc.code, &rpc.message, rpc.data.clone());
        return json_response(StatusCode::OK, &body);
    }
    let (status, kind) = failure(&state.statuses, error);
    let body = rpc_error_envelope(
        id,
        codes::INTERNAL_ERROR,
        &error.to_string(),
        json!({ "kind": kind }),
    );
    json_response(status, &body)
}
