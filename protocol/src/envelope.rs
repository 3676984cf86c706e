//! JSON-RPC 2.0 envelopes as clamator writes and reads them (spec §1).
//!
//! Envelopes are plain values: the memory transport hands them from client to server without
//! serializing, the Redis transport writes them as compact UTF-8 JSON. Key order on write is the
//! peers' build order (`jsonrpc`, `method`, `params`, `id` / `jsonrpc`, `id`, `result|error`).

use std::borrow::Cow;
use std::fmt;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::error::{InvalidReason, InvalidRequest, ProtocolError, RpcError};
use crate::names::split_method;

/// A request id: a string (clamator clients always send a UUID v4) or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// The form every clamator client generates.
    String(String),
    /// Accepted from other JSON-RPC callers; only integers, as the Python peer.
    Number(Number),
}

impl Id {
    /// A fresh UUID v4 id in the canonical lowercase form the peers generate.
    pub fn new_uuid() -> Self {
        // Encoding into a stack buffer skips the `fmt` machinery of `to_string` (hot path).
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        Id::String(text.to_owned())
    }

    /// The key pending-call tables use: the string itself, or the number's decimal text
    /// (`String(id)` / `str(id)` in the peers).
    pub fn key(&self) -> Cow<'_, str> {
        match self {
            Id::String(s) => Cow::Borrowed(s),
            Id::Number(n) => Cow::Owned(n.to_string()),
        }
    }

    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Id::String(s)),
            Value::Number(n) if !n.is_f64() => Some(Id::Number(n)),
            _ => None,
        }
    }
}

impl From<Id> for Value {
    fn from(id: Id) -> Self {
        match id {
            Id::String(s) => Value::String(s),
            Id::Number(n) => Value::Number(n),
        }
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(s.to_owned())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::String(s)
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n.into())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::String(v) => s.serialize_str(v),
            Id::Number(n) => n.serialize(s),
        }
    }
}

/// A call that expects a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed unchanged in the response.
    pub id: Id,
    /// Service part of `method` (before the first dot). Borrowed from a `'static` contract for
    /// typed calls, so building a request does not allocate it.
    pub service: Cow<'static, str>,
    /// Method part of `method` (after the first dot).
    pub method: Cow<'static, str>,
    /// Whatever the caller sent; `{}` when the key was absent.
    pub params: Value,
}

/// A fire-and-forget call: no id, never answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Service part of `method`.
    pub service: Cow<'static, str>,
    /// Method part of `method`.
    pub method: Cow<'static, str>,
    /// Whatever the caller sent; `{}` when the key was absent.
    pub params: Value,
}

/// A success or error response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's id, echoed. Any JSON value on read (the peers do not check its type);
    /// `null` is only valid on an error response.
    pub id: Value,
    /// `result` on success, `error` otherwise.
    pub outcome: Result<Value, RpcError>,
}

impl Response {
    /// The id as pending-call tables key it (`String(id)` / `str(id)`).
    pub fn key(&self) -> Cow<'_, str> {
        value_key(&self.id)
    }
}

/// The pending-call key of an id value, as the peers compute it.
pub fn value_key(id: &Value) -> Cow<'_, str> {
    match id {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Any classified envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Has a string `method` and a non-null id.
    Request(Request),
    /// Has a string `method` and no (or a null) id.
    Notification(Notification),
    /// Has `result` or `error`.
    Response(Response),
}

impl Envelope {
    /// Parses JSON text and classifies it (spec §1.4). Accepts any valid JSON spelling.
    pub fn parse(text: &str) -> Result<Envelope, ProtocolError> {
        let value: Value = serde_json::from_str(text)?;
        Ok(Envelope::from_value(value)?)
    }

    /// Classifies a JSON value, in the peers' step order, with their reason texts.
    pub fn from_value(value: Value) -> Result<Envelope, InvalidRequest> {
        let mut obj = match value {
            Value::Array(_) => return Err(InvalidReason::Batch.into()),
            Value::Object(obj) => obj,
            _ => return Err(InvalidReason::NotAnObject.into()),
        };
        if !matches!(obj.get("jsonrpc"), Some(Value::String(v)) if v == "2.0") {
            return Err(InvalidReason::JsonRpcVersion.into());
        }
        if let Some(Value::String(full)) = obj.get("method") {
            let (service, method) = split_method(full)?;
            let (service, method) = (
                Cow::Owned(service.to_owned()),
                Cow::Owned(method.to_owned()),
            );
            let params = obj
                .remove("params")
                .unwrap_or_else(|| Value::Object(Map::new()));
            return match obj.remove("id") {
                None | Some(Value::Null) => Ok(Envelope::Notification(Notification {
                    service,
                    method,
                    params,
                })),
                Some(id) => {
                    let id = Id::from_value(id).ok_or(InvalidReason::IdType)?;
                    Ok(Envelope::Request(Request {
                        id,
                        service,
                        method,
                        params,
                    }))
                }
            };
        }
        let result = obj.remove("result");
        let error = obj.remove("error");
        match (result, error) {
            (Some(result), None) => match obj.remove("id") {
                None | Some(Value::Null) => Err(InvalidReason::ResponseId.into()),
                Some(id) => Ok(Envelope::Response(Response {
                    id,
                    outcome: Ok(result),
                })),
            },
            (None, Some(error)) => {
                let error = parse_error_object(error).ok_or(InvalidReason::ErrorShape)?;
                let id = obj.remove("id").unwrap_or(Value::Null);
                Ok(Envelope::Response(Response {
                    id,
                    outcome: Err(error),
                }))
            }
            _ => Err(InvalidReason::UnknownKind.into()),
        }
    }

    /// The kind's name, as used in `unexpected response kind: <kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Request(_) => "request",
            Envelope::Notification(_) => "notification",
            Envelope::Response(Response { outcome: Ok(_), .. }) => "success",
            Envelope::Response(Response {
                outcome: Err(_), ..
            }) => "error",
        }
    }

    /// Compact UTF-8 JSON, the form this crate puts on any wire.
    pub fn to_json(&self) -> String {
        // Serializing a tree of `Value`s and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `code` must be an integer (an integral float such as `-32000.0` is read as one, since a
/// TypeScript peer may write any number), `message` a string; `data` defaults to `null`.
fn parse_error_object(value: Value) -> Option<RpcError> {
    let Value::Object(mut obj) = value else {
        return None;
    };
    let code = match obj.get("code")? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })?,
        _ => return None,
    };
    let Some(Value::String(message)) = obj.remove("message") else {
        return None;
    };
    let data = obj.remove("data").unwrap_or(Value::Null);
    Some(RpcError {
        code,
        message,
        data,
    })
}

/// Writes `"<service>.<method>"` without building the joined string.
struct MethodField<'a>(&'a str, &'a str);

impl Serialize for MethodField<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}.{}", self.0, self.1))
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Request", 4)?;
        st.serialize_field("jsonrpc", "2.0")?;
        st.serialize_field("method", &MethodField(&self.service, &self.method))?;
        st.serialize_field("params", &self.params)?;
        st.serialize_field("id", &self.id)?;
        st.end()
    }
}

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Notification", 3)?;
        st.serialize_field("jsonrpc", "2.0")?;
        st.serialize_field("method", &MethodField(&self.service, &self.method))?;
        st.serialize_field("params", &self.params)?;
        st.end()
    }
}

struct ErrorObject<'a>(&'a RpcError);

impl Serialize for ErrorObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Error", 3)?;
        st.serialize_field("code", &self.0.code)?;
        st.serialize_field("message", &self.0.message)?;
        st.serialize_field("data", &self.0.data)?;
        st.end()
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_map(Some(3))?;
        st.serialize_entry("jsonrpc", "2.0")?;
        st.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(result) => st.serialize_entry("result", result)?,
            Err(error) => st.serialize_entry("error", &ErrorObject(error))?,
        }
        st.end()
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Envelope::Request(r) => r.serialize(s),
            Envelope::Notification(n) => n.serialize(s),
            Envelope::Response(r) => r.serialize(s),
        }
    }
}

impl From<Request> for Envelope {
    fn from(r: Request) -> Self {
        Envelope::Request(r)
    }
}

impl From<Notification> for Envelope {
    fn from(n: Notification) -> Self {
        Envelope::Notification(n)
    }
}

impl From<Response> for Envelope {
    fn from(r: Response) -> Self {
        Envelope::Response(r)
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
