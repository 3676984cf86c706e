//! Runs the golden vectors of `interop/fixtures/` against the protocol crate.
//!
//! Two kinds of case, one JSON file each (see `interop/README.md`):
//! * `envelopes/*.json`: `{"description", "text", "expect"}`: raw JSON text and its expected
//!   classification, or `{"invalid": "<reason>"}`, or `{"parseError": true}`, or
//!   `{"integerOutOfRange": "<literal>", "at": "<path>"}`;
//! * `dispatch/*.json`: `{"description", "contract", "handlers", "envelope", "expect"}`: a
//!   request or notification, how each handler behaves, and the exact response (or `null`).
//!   `"envelopeText"` (raw wire text) may replace `"envelope"` for text no JSON value holds.
//!
//! In `expect`, `{"$any": true}` matches any value (used where languages legitimately differ,
//! e.g. validation `data`), and numbers compare by value (`5` equals `5.0`, as in JavaScript).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use clamator::memory::MemoryBus;
use clamator::{
    Envelope, HandlerError, Method, ProtocolError, Response, RpcError, Service, ServiceBuilder,
};

use crate::contracts::{ArithContract, NotificationsContract, PingParams};

/// The folder holding the fixture files.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every `*.json` file under `fixtures/<kind>/`, sorted by name.
pub fn case_files(kind: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir().join(kind))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// An envelope-classification case.
#[derive(Debug, Deserialize)]
pub struct EnvelopeCase {
    /// What the case pins down.
    pub description: String,
    /// The raw JSON text as it would arrive on a wire.
    pub text: String,
    /// The expected classification.
    pub expect: Value,
    /// Also require the parsed envelope to write back as `text`, byte for byte: `expect` is read
    /// into `serde_json` values and compares numbers by value, which cannot tell
    /// `18446744073709551615` from its nearest float.
    #[serde(default, rename = "roundTrip")]
    pub round_trip: bool,
}

/// A dispatcher case.
#[derive(Debug, Deserialize)]
pub struct DispatchCase {
    /// What the case pins down.
    pub description: String,
    /// `arith` or `notifications`.
    pub contract: String,
    /// Method name → behaviour; methods not listed have no handler.
    pub handlers: Map<String, Value>,
    /// The envelope handed to the server, as a JSON value.
    #[serde(default)]
    pub envelope: Option<Value>,
    /// Or as raw wire text, parsed by `Envelope::parse` first: for text a JSON value cannot
    /// hold, such as a lone surrogate escape.
    #[serde(default, rename = "envelopeText")]
    pub envelope_text: Option<String>,
    /// The exact response, or `null` for none.
    pub expect: Value,
}

/// How a fixture handler behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Behaviour {
    /// Returns this JSON (validated against the result type).
    Return(Value),
    /// Fails with this JSON-RPC error.
    Raise(RpcErrorSpec),
    /// Fails with a non-RPC error of this name and message.
    Throw { name: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
struct RpcErrorSpec {
    code: i64,
    message: String,
    #[serde(default)]
    data: Value,
}

fn parse_behaviour(value: &Value) -> Result<Option<Behaviour>, String> {
    if value == "echo" {
        return Ok(None);
    }
    serde_json::from_value(value.clone())
        .map(Some)
        .map_err(|e| format!("bad handler behaviour {value}: {e}"))
}

/// What a handler with behaviour `b` returns for `params` (`None` behaviour = echo).
fn behave(b: &Option<Behaviour>, params: Value) -> Result<Value, HandlerError> {
    match b {
        None => Ok(params),
        Some(Behaviour::Return(v)) => Ok(v.clone()),
        Some(Behaviour::Raise(e)) => Err(RpcError::new(e.code, e.message.clone())
            .with_data(e.data.clone())
            .into()),
        Some(Behaviour::Throw { name, message }) => {
            Err(HandlerError::internal(name.clone(), message.clone()))
        }
    }
}

fn attach<P, R>(
    builder: ServiceBuilder,
    method: Method<P, R>,
    handlers: &Map<String, Value>,
) -> Result<ServiceBuilder, String>
where
    P: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let Some(spec) = handlers.get(method.name()) else {
        return Ok(builder);
    };
    let behaviour = parse_behaviour(spec)?;
    Ok(builder.handle_json(method, move |params: P| {
        let out = serde_json::to_value(params)
            .map_err(HandlerError::from)
            .and_then(|p| behave(&behaviour, p));
        async move { out }
    }))
}

fn build_service(case: &DispatchCase) -> Result<Service, String> {
    let e = |err: clamator::Error| err.to_string();
    match case.contract.as_str() {
        "arith" => {
            let b = Service::builder(ArithContract::contract());
            let b = attach(b, ArithContract::ADD, &case.handlers)?;
            let b = attach(b, ArithContract::DIVIDE, &case.handlers)?;
            let b = attach(b, ArithContract::ECHO_TEXT, &case.handlers)?;
            let b = attach(b, ArithContract::SLOW_ADD, &case.handlers)?;
            b.build().map_err(e)
        }
        "notifications" => {
            let mut b = Service::builder(NotificationsContract::contract());
            if let Some(spec) = case.handlers.get("ping") {
                let behaviour = parse_behaviour(spec)?;
                b = b.on_notification(NotificationsContract::PING, move |p: PingParams| {
                    let out = behave(&behaviour, json!({ "tag": p.tag })).map(drop);
                    async move { out }
                });
            }
            b.build().map_err(e)
        }
        other => Err(format!("unknown contract {other:?}")),
    }
}

/// Describes a parsed envelope in the fixtures' `expect` vocabulary.
pub fn describe(parsed: Result<Envelope, ProtocolError>) -> Value {
    match parsed {
        Err(ProtocolError::Invalid(e)) => json!({ "invalid": e.reason.to_string() }),
        Err(ProtocolError::IntegerOutOfRange { literal, at }) => {
            json!({ "integerOutOfRange": literal, "at": at })
        }
        Err(_) => json!({ "parseError": true }),
        Ok(Envelope::Request(r)) => json!({
            "kind": "request", "service": r.service, "method": r.method,
            "id": Value::from(r.id), "params": r.params,
        }),
        Ok(Envelope::Notification(n)) => json!({
            "kind": "notification", "service": n.service, "method": n.method, "params": n.params,
        }),
        Ok(Envelope::Response(Response {
            id,
            outcome: Ok(result),
        })) => {
            json!({ "kind": "success", "id": id, "result": result })
        }
        Ok(Envelope::Response(Response {
            id,
            outcome: Err(e),
        })) => json!({
            "kind": "error", "id": id,
            "error": { "code": e.code, "message": e.message, "data": e.data },
        }),
    }
}

/// Runs one envelope case; `Err` explains the mismatch.
pub fn run_envelope_case(case: &EnvelopeCase) -> Result<(), String> {
    let parsed = Envelope::parse(&case.text);
    if case.round_trip {
        let written = parsed
            .as_ref()
            .map(Envelope::to_json)
            .map_err(std::string::ToString::to_string)?;
        if written != case.text {
            return Err(format!(
                "written back as {written}\n     not as {}",
                case.text
            ));
        }
    }
    check(&case.expect, &describe(parsed))
}

/// Runs one dispatcher case through a server core; `Err` explains the mismatch.
pub async fn run_dispatch_case(case: &DispatchCase) -> Result<(), String> {
    let server = MemoryBus::new().server();
    server
        .register_service(build_service(case)?)
        .map_err(|e| e.to_string())?;
    let envelope = match (&case.envelope, &case.envelope_text) {
        (Some(value), None) => Envelope::from_value(value.clone()).map_err(|e| e.to_string())?,
        (None, Some(text)) => Envelope::parse(text).map_err(|e| e.to_string())?,
        _ => return Err("a dispatch case has exactly one of envelope and envelopeText".into()),
    };
    let response = server.dispatch(envelope).await;
    let actual = serde_json::to_value(response).map_err(|e| e.to_string())?;
    check(&case.expect, &actual)
}

fn check(expect: &Value, actual: &Value) -> Result<(), String> {
    if matches(expect, actual) {
        Ok(())
    } else {
        Err(format!("expected {expect}\n     got {actual}"))
    }
}

/// Structural equality with `{"$any": true}` wildcards and numeric comparison by value.
pub fn matches(expect: &Value, actual: &Value) -> bool {
    match (expect, actual) {
        (Value::Object(e), _) if e.get("$any") == Some(&Value::Bool(true)) => true,
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|av| matches(v, av)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        _ => expect == actual,
    }
}
