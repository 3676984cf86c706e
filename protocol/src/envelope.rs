//! JSON-RPC 2.0 envelopes as clamator writes and reads them (spec §1).
//!
//! Envelopes are plain values: the memory transport hands them from client to server without
//! serializing, the Redis transport writes them as compact UTF-8 JSON. Key order on write is the
//! peers' build order (`jsonrpc`, `method`, `params`, `id` / `jsonrpc`, `id`, `result|error`).
//!
//! **Lone surrogates.** JSON text may escape a UTF-16 surrogate without its pair (`"\ud800"`);
//! the Python and TypeScript peers read and echo such strings, but a Rust `String` cannot hold
//! one, so `serde_json` refuses the whole text and the request would go unanswered. When the
//! first parse fails, [`Envelope::parse`] (and [`parse_value_lenient`]) rewrite every unpaired
//! `\uD800`–`\uDFFF` escape inside a string to `\uFFFD` (U+FFFD REPLACEMENT CHARACTER) and
//! parse again. The answer then carries U+FFFD where the peer sent the lone surrogate: lossy,
//! but answered. Valid pairs and escaped backslashes (`"\\ud800"` is text) are untouched,
//! and well-formed text never pays for the rescan.
//!
//! **Integers beyond 64 bits.** The Python peer keeps an integer such as
//! `100000000000000000000` exact. A `serde_json::Value` holds integers only as `i64`/`u64`
//! unless the whole application turns on serde_json's `arbitrary_precision` (which changes
//! every `Value` in it, the trap of a forced feature), so it would read that one as the float
//! `1e20`: a handler would see another number and an echo would write `1e+20`. Rather than
//! change a number silently, [`Envelope::parse`] refuses an envelope holding such a literal
//! with [`ProtocolError::IntegerOutOfRange`], naming the literal and where it is. A client
//! fails the call such a reply answers at once (the reply's id is still read); for a request
//! whose params hold one, [`Envelope::refusal`] builds the `-32602` answer a server can send
//! instead of dropping it unanswered. Floats (`1e20`, `100000000000000000000.0`) are floats to
//! every peer and pass.

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
    /// Parses JSON text and classifies it (spec §1.4). Accepts any valid JSON spelling, lone
    /// surrogate escapes included (read as U+FFFD, see the [module docs](self)).
    ///
    /// An integer literal outside `i64`/`u64` anywhere in a valid envelope is refused with
    /// [`ProtocolError::IntegerOutOfRange`] (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Envelope, ProtocolError> {
        let value = parse_value_lenient(text)?;
        let envelope = match Envelope::from_value(value) {
            Ok(envelope) => envelope,
            // A big integer id reads as a float, which `id must be string or number` would
            // misdescribe: say what it really is.
            Err(e) if e.reason == InvalidReason::IdType => match out_of_range_integer(text) {
                Some((literal, loc)) if loc == ["id"] => {
                    return Err(ProtocolError::IntegerOutOfRange {
                        literal,
                        at: path_text(&loc),
                    })
                }
                _ => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        if let Some((literal, loc)) = out_of_range_integer(text) {
            return Err(ProtocolError::IntegerOutOfRange {
                literal,
                at: path_text(&loc),
            });
        }
        Ok(envelope)
    }

    /// The answer a server can still give for `text` that [`parse`](Self::parse) refused with
    /// `error`: a request whose params hold an integer beyond 64 bits is answered
    /// `-32602 Invalid params`, with one `integer_out_of_range` entry naming the literal (as a
    /// string: no `Value` holds it) and its `loc` in the params, so its caller learns why
    /// instead of timing out. `None` for every other refusal, which stays unanswered as the
    /// peers leave invalid envelopes (spec §1.4), and for a notification.
    ///
    /// A transport calls it where it would drop a refused envelope.
    pub fn refusal(text: &str, error: &ProtocolError) -> Option<Response> {
        let ProtocolError::IntegerOutOfRange { literal, .. } = error else {
            return None;
        };
        let (_, loc) = out_of_range_integer(text)?;
        let params_loc = match loc.split_first() {
            Some((Value::String(first), rest)) if first == "params" => rest.to_vec(),
            _ => return None,
        };
        let value = parse_value_lenient(text).ok()?;
        let Ok(Envelope::Request(request)) = Envelope::from_value(value) else {
            return None;
        };
        let entry = serde_json::json!({
            "type": "integer_out_of_range",
            "loc": params_loc,
            "msg": error.to_string(),
            "input": literal,
        });
        Some(Response {
            id: request.id.into(),
            outcome: Err(RpcError::invalid_params(
                serde_json::json!({ "errors": [entry] }),
            )),
        })
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

/// Parses JSON text into a value the way [`Envelope::parse`] does: a lone surrogate escape
/// (valid JSON, which `serde_json` alone refuses) is read as U+FFFD. For readers that need
/// more of a text than its classification, such as the `id` of a reply too malformed to
/// classify, so they agree with the envelope parser about what is JSON.
///
/// The rescan runs only after a first, plain parse failed. An error is the plain parse's when
/// there was nothing to rewrite, else the second parse's; the rewrite keeps every byte offset,
/// so either error's position points into `text`.
///
/// ```
/// use clamator_protocol::envelope::parse_value_lenient;
/// let value = parse_value_lenient(r#"{"text":"a\ud800b"}"#)?;
/// assert_eq!(value["text"], "a\u{FFFD}b");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn parse_value_lenient(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(plain) => match replace_lone_surrogates(text) {
            Some(rewritten) => serde_json::from_str(&rewritten),
            None => Err(plain),
        },
    }
}

/// `text` with every `\uXXXX` escape of an unpaired UTF-16 surrogate, inside a JSON string,
/// replaced by `\ufffd` (same length), or `None` if there is none. A high surrogate escape
/// directly followed by a low one is a valid pair and kept; any other escape (`\\`, `\"`, …)
/// is stepped over whole, so an escaped backslash followed by `ud800` stays text.
fn replace_lone_surrogates(text: &str) -> Option<String> {
    const REPLACEMENT: &str = "\\ufffd";
    let bytes = text.as_bytes();
    let is_high = |unit: u16| (0xD800..0xDC00).contains(&unit);
    let is_low = |unit: u16| (0xDC00..0xE000).contains(&unit);
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => {
                let Some(unit) = unicode_escape(bytes, i) else {
                    i += 2; // a one-character escape, or a malformed one serde_json reports
                    continue;
                };
                if is_high(unit) && unicode_escape(bytes, i + 6).is_some_and(is_low) {
                    i += 12; // a valid pair
                    continue;
                }
                if is_high(unit) || is_low(unit) {
                    // Only ASCII bytes were stepped over, so `copied` and `i` are boundaries.
                    let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                    buf.push_str(&text[copied..i]);
                    buf.push_str(REPLACEMENT);
                    copied = i + 6;
                }
                i += 6;
            }
            _ => i += 1,
        }
    }
    let mut buf = out?;
    buf.push_str(&text[copied..]);
    Some(buf)
}

/// The code unit of a `\uXXXX` escape starting at `at`, if there is one.
fn unicode_escape(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at + 6)? {
        [b'\\', b'u', hex @ ..] if hex.iter().all(u8::is_ascii_hexdigit) => {
            u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
        }
        _ => None,
    }
}

/// The first integer literal in `text` (JSON that already parsed) that neither `i64` nor `u64`
/// holds, with where it sits (`["params","a",2]`). Such a literal has at least 19 digits in a row,
/// so text without such a run (nearly every envelope) costs one pass over its bytes.
fn out_of_range_integer(text: &str) -> Option<(String, Vec<Value>)> {
    enum Frame {
        Object {
            key: Option<String>,
            expect_key: bool,
        },
        Array {
            index: usize,
        },
    }
    let bytes = text.as_bytes();
    if !has_digit_run(bytes, 19) {
        return None;
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'{' => stack.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = false;
                }
            }
            b'"' => {
                let end = string_end(bytes, i + 1);
                if let Some(Frame::Object {
                    key,
                    expect_key: true,
                }) = stack.last_mut()
                {
                    *key = text.get(i + 1..end).map(str::to_owned);
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i + 1)
                    .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                let literal = text.get(start..=i).unwrap_or_default();
                let integer = literal.bytes().all(|b| b == b'-' || b.is_ascii_digit());
                if integer
                    && literal.len() >= 19
                    && literal.parse::<i64>().is_err()
                    && literal.parse::<u64>().is_err()
                {
                    return Some((literal.to_owned(), loc_of(&stack)));
                }
            }
            _ => {}
        }
        i += 1;
    }

    fn loc_of(stack: &[Frame]) -> Vec<Value> {
        stack
            .iter()
            .filter_map(|frame| match frame {
                Frame::Object { key, .. } => key.clone().map(Value::String),
                Frame::Array { index } => Some(Value::from(*index)),
            })
            .collect()
    }
    None
}

/// `["params","a",2]` → `params.a[2]`, as [`ProtocolError::IntegerOutOfRange`] shows it.
fn path_text(loc: &[Value]) -> String {
    let mut out = String::new();
    for segment in loc {
        match segment {
            Value::String(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            other => out.push_str(&format!("[{other}]")),
        }
    }
    if out.is_empty() {
        out.push_str("the top level");
    }
    out
}

/// Index of the closing quote of a JSON string whose content starts at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> usize {
    while let Some(&b) = bytes.get(from) {
        match b {
            b'\\' => from += 2,
            b'"' => return from,
            _ => from += 1,
        }
    }
    bytes.len()
}

fn has_digit_run(bytes: &[u8], len: usize) -> bool {
    let mut run = 0;
    for b in bytes {
        if b.is_ascii_digit() {
            run += 1;
            if run >= len {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
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
