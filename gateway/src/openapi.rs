//! The OpenAPI 3.1 document: one operation per registered method, built from the params and
//! result types' JSON Schemas (2020-12, the dialect of OpenAPI 3.1), with every status the
//! gateway can answer documented, refusal unions included.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use clamator::MethodKind;
use serde_json::{json, Map, Value};

use crate::{GatewayBuilder, MethodEntry, StatusMap, REQUEST_ID_HEADER};

const COMPONENTS: &str = "#/components/schemas/";

fn error_ref() -> Value {
    json!({ "$ref": format!("{COMPONENTS}GatewayError") })
}

fn jsonrpc_response_ref() -> Value {
    json!({ "$ref": format!("{COMPONENTS}JsonRpcResponse") })
}

/// Responses of one operation being assembled: status → (descriptions, schemas).
#[derive(Default)]
struct Responses(BTreeMap<u16, (Vec<String>, Vec<Value>)>);

impl Responses {
    fn add(&mut self, status: StatusCode, description: impl Into<String>, schema: Option<Value>) {
        let (descriptions, schemas) = self.0.entry(status.as_u16()).or_default();
        let description = description.into();
        if !descriptions.contains(&description) {
            descriptions.push(description);
        }
        if let Some(schema) = schema {
            if !schemas.contains(&schema) {
                schemas.push(schema);
            }
        }
    }

    fn render(self) -> Value {
        let mut out = Map::new();
        for (status, (descriptions, mut schemas)) in self.0 {
            let mut response = Map::new();
            response.insert("description".into(), Value::from(descriptions.join("; ")));
            let schema = match schemas.len() {
                0 => None,
                1 => schemas.pop(),
                _ => Some(json!({ "anyOf": schemas })),
            };
            if let Some(schema) = schema {
                response.insert(
                    "content".into(),
                    json!({"application/json": {"schema": schema}}),
                );
            }
            out.insert(status.to_string(), Value::Object(response));
        }
        Value::Object(out)
    }
}

fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    let mut current = schema;
    // Bounded: a chain of bare `$ref`s longer than the definitions is a loop.
    for _ in 0..=defs.len() {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(COMPONENTS))
            .and_then(|name| defs.get(name))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// The string values a `reason` schema allows; `None` when it allows any string.
fn reason_values(schema: &Value, defs: &Map<String, Value>) -> Option<Vec<String>> {
    let schema = resolve(schema, defs);
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        return Some(vec![c.to_owned()]);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let mut all = Vec::new();
            for b in branches {
                let b = resolve(b, defs);
                if b.get("type") == Some(&Value::from("null")) {
                    continue;
                }
                all.extend(reason_values(b, defs)?);
            }
            return Some(all);
        }
    }
    None
}

/// A result schema's refusal branches (`{"ok": false, "reason": …}` shapes): each branch's
/// schema and the reasons it allows (`None`: any string).
fn refusals(result: &Value, defs: &Map<String, Value>) -> Vec<(Value, Option<Vec<String>>)> {
    let mut found = Vec::new();
    let mut visit = |branch: &Value| {
        let resolved = resolve(branch, defs);
        let Some(props) = resolved.get("properties").and_then(Value::as_object) else {
            return;
        };
        let (Some(ok), Some(reason)) = (props.get("ok"), props.get("reason")) else {
            return;
        };
        let ok = resolve(ok, defs);
        let only_true =
            ok.get("const") == Some(&Value::Bool(true)) || ok.get("enum") == Some(&json!([true]));
        if !only_true {
            found.push((branch.clone(), reason_values(reason, defs)));
        }
    };
    let root = resolve(result, defs);
    let mut unions = false;
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = root.get(key).and_then(Value::as_array) {
            unions = true;
            branches.iter().for_each(&mut visit);
        }
    }
    if !unions {
        visit(result);
    }
    found
}

fn request_responses(
    entry: &MethodEntry,
    statuses: &StatusMap,
    defs: &Map<String, Value>,
) -> Responses {
    let mut r = Responses::default();
    let result = entry.result.clone().unwrap_or_else(|| json!({}));
    r.add(StatusCode::OK, "the result", Some(result.clone()));
    for (branch, reasons) in refusals(&result, defs) {
        let reasons: Vec<(String, StatusCode)> = match reasons {
            Some(list) => list
                .into_iter()
                .map(|reason| {
                    let status = statuses.for_reason(&reason);
                    (reason, status)
                })
                .collect(),
            None => statuses
                .reasons()
                .map(|(reason, status)| (reason.to_owned(), status))
                .chain([("any other reason".to_owned(), statuses.other_reason())])
                .collect(),
        };
        for (reason, status) in reasons {
            r.add(status, format!("refused: {reason}"), Some(branch.clone()));
        }
    }
    add_error_responses(&mut r, statuses);
    r.add(
        StatusCode::INTERNAL_SERVER_ERROR,
        "-32603 internal error in the handler",
        Some(error_ref()),
    );
    r.add(
        StatusCode::GATEWAY_TIMEOUT,
        "no answer within the call timeout",
        Some(error_ref()),
    );
    r
}

/// The failures every forwarding operation can answer.
fn add_error_responses(r: &mut Responses, statuses: &StatusMap) {
    r.add(
        StatusCode::BAD_REQUEST,
        "malformed JSON, a bad Request-Timeout, or a caller bug (-32601 method not found, -32602 invalid params)",
        Some(error_ref()),
    );
    r.add(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body over the size limit",
        Some(error_ref()),
    );
    r.add(
        StatusCode::BAD_GATEWAY,
        "the bus failed to carry the call or its answer",
        Some(error_ref()),
    );
    r.add(
        StatusCode::SERVICE_UNAVAILABLE,
        "no server for the service, or the gateway's client is stopped",
        Some(error_ref()),
    );
    for (code, status) in statuses.app_codes() {
        r.add(
            status,
            format!("application error {code}"),
            Some(error_ref()),
        );
    }
    r.add(
        statuses.unmapped_code(),
        "an application error code without a table entry",
        Some(error_ref()),
    );
}

fn header_parameters() -> Value {
    json!([
        {
            "name": "Request-Timeout",
            "in": "header",
            "required": false,
            "description": "How long to wait for the bus: `250ms`, `2s`, `2` (seconds), `1m`; capped by the gateway's maximum.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,6}(\\.[0-9]{1,3})?(ms|s|m)?$"}
        },
        {
            "name": REQUEST_ID_HEADER,
            "in": "header",
            "required": false,
            "description": "Echoed on the answer; generated when absent.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}
        }
    ])
}

fn operation(service: &str, method: &str, entry: &MethodEntry, b: &GatewayBuilder) -> Value {
    let defs = b.generator.definitions();
    let responses = match entry.kind {
        MethodKind::Request => request_responses(entry, &b.statuses, defs),
        MethodKind::Notification => {
            let mut r = Responses::default();
            r.add(
                StatusCode::ACCEPTED,
                "accepted by the bus (never answered)",
                None,
            );
            add_error_responses(&mut r, &b.statuses);
            r
        }
    };
    let kind = match entry.kind {
        MethodKind::Request => "request",
        MethodKind::Notification => "notification",
    };
    json!({
        "operationId": format!("{service}.{method}"),
        "summary": format!("clamator {kind} {service}.{method}"),
        "tags": [service],
        "parameters": header_parameters(),
        "requestBody": {
            "required": true,
            "description": "The params.",
            "content": {"application/json": {"schema": entry.params}}
        },
        "responses": responses.render(),
    })
}

fn forward_any_operation(b: &GatewayBuilder) -> Value {
    let entry = MethodEntry {
        kind: MethodKind::Request,
        names: ("{service}", "{method}"),
        params: json!({}),
        result: Some(json!({})),
    };
    let mut op = operation("{service}", "{method}", &entry, b);
    op["operationId"] = Value::from("forward");
    op["summary"] = Value::from("any clamator request, forwarded untyped");
    op["tags"] = json!(["forward"]);
    if let Some(params) = op["parameters"].as_array_mut() {
        params.insert(
            0,
            json!({"name": "method", "in": "path", "required": true,
                   "schema": {"type": "string", "pattern": "^[a-z][a-zA-Z0-9]*$"}}),
        );
        params.insert(
            0,
            json!({"name": "service", "in": "path", "required": true,
                   "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}}),
        );
    }
    op
}

fn jsonrpc_operation() -> Value {
    let mut r = Responses::default();
    r.add(
        StatusCode::OK,
        "the JSON-RPC response (a server's error included)",
        Some(jsonrpc_response_ref()),
    );
    r.add(
        StatusCode::ACCEPTED,
        "a notification, accepted by the bus",
        None,
    );
    r.add(
        StatusCode::BAD_REQUEST,
        "-32700 parse error or -32600 invalid request",
        Some(jsonrpc_response_ref()),
    );
    r.add(
        StatusCode::NOT_FOUND,
        "a notification to a method this gateway does not expose",
        Some(error_ref()),
    );
    r.add(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body over the size limit",
        Some(error_ref()),
    );
    for (status, what) in [
        (StatusCode::BAD_GATEWAY, "the bus failed to carry the call"),
        (StatusCode::SERVICE_UNAVAILABLE, "no server, or stopped"),
        (StatusCode::GATEWAY_TIMEOUT, "call timeout"),
    ] {
        r.add(
            status,
            format!("{what} (-32603, data.kind says which)"),
            Some(jsonrpc_response_ref()),
        );
    }
    json!({
        "operationId": "jsonrpc",
        "summary": "one JSON-RPC 2.0 request or notification (no batches)",
        "tags": ["jsonrpc"],
        "parameters": header_parameters(),
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("{COMPONENTS}JsonRpcRequest")}}}
        },
        "responses": r.render(),
    })
}

fn components(b: &GatewayBuilder) -> Value {
    let mut schemas = b.generator.definitions().clone();
    schemas.insert(
        "GatewayError".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["kind", "message"],
                "properties": {
                    "kind": {
                        "type": "string",
                        "description": "rpc (a JSON-RPC error: see code), timeout, no-server, stopped, transport, bad-request, payload-too-large, not-found"
                    },
                    "message": {"type": "string"},
                    "code": {"type": "integer", "description": "the JSON-RPC error code (kind rpc)"},
                    "data": {"description": "the JSON-RPC error's data (kind rpc)"}
                }
            }}
        }),
    );
    let names: Vec<String> = b
        .methods
        .iter()
        .flat_map(|(s, ms)| ms.keys().map(move |m| format!("{s}.{m}")))
        .collect();
    let method = if b.forward_any || names.is_empty() {
        json!({"type": "string", "pattern": "^[a-z][a-z0-9-]*\\.[a-z][a-zA-Z0-9]*$"})
    } else {
        json!({"type": "string", "enum": names})
    };
    schemas.insert(
        "JsonRpcRequest".into(),
        json!({
            "type": "object",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "method": method,
                "params": {},
                "id": {"type": ["string", "integer", "null"]}
            }
        }),
    );
    schemas.insert(
        "JsonRpcResponse".into(),
        json!({
            "type": "object",
            "required": ["jsonrpc", "id"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer", "null"]},
                "result": {},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}}
                }
            }
        }),
    );
    schemas.insert(
        "Health".into(),
        json!({
            "type": "object",
            "required": ["status", "client", "services"],
            "properties": {
                "status": {"enum": ["ok", "unavailable"]},
                "client": {"type": "string"},
                "bus": {"enum": ["reachable", "unreachable"]},
                "reason": {"type": "string"},
                "services": {"type": "array", "items": {"type": "string"}}
            }
        }),
    );
    json!({ "schemas": schemas })
}

pub(crate) fn document(b: &GatewayBuilder) -> Value {
    let mut paths = Map::new();
    for (service, methods) in &b.methods {
        for (method, entry) in methods {
            paths.insert(
                format!("/rpc/{service}/{method}"),
                json!({ "post": operation(service, method, entry, b) }),
            );
        }
    }
    if b.forward_any {
        paths.insert(
            "/rpc/{service}/{method}".into(),
            json!({ "post": forward_any_operation(b) }),
        );
    }
    paths.insert("/jsonrpc".into(), json!({ "post": jsonrpc_operation() }));
    paths.insert(
        "/healthz".into(),
        json!({"get": {
            "operationId": "healthz",
            "summary": "the gateway's client state and, with a probe, whether the bus is reachable",
            "responses": {
                "200": {"description": "healthy", "content": {"application/json": {"schema": {"$ref": format!("{COMPONENTS}Health")}}}},
                "503": {"description": "unhealthy", "content": {"application/json": {"schema": {"$ref": format!("{COMPONENTS}Health")}}}}
            }
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "this document",
            "responses": {"200": {"description": "the OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": b.title,
            "version": b.version,
            "description": format!(
                "HTTP gateway to a clamator bus. Bodies up to {} bytes. Statuses follow clamator's gateway mapping: -32601/-32602 → 400, -32603 → 500, refusals (ok: false) by reason, timeout → 504, no server → 503.",
                b.body_limit
            ),
        },
        "paths": paths,
        "components": components(b),
    })
}
