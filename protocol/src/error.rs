//! Error types, kept in clamator's three families.
//!
//! * [`RpcError`]: a JSON-RPC error object. What a handler returns to reject a call and what a
//!   caller receives; it travels on the wire.
//! * [`ProtocolError`]: something that is not a valid clamator envelope (an invalid request, or a
//!   malformed reply seen by a client). Never put on the wire.
//! * [`TransportError`]: the call could not be carried (timeout, lifecycle, backend failure).
//!
//! [`Error`] is the one enum the crate's fallible APIs return; its variants hold the families.

use std::fmt;

use serde_json::Value;

use crate::state::State;

/// Reserved JSON-RPC 2.0 error codes, as clamator uses them.
pub mod codes {
    /// Invalid JSON. Reserved: clamator never emits it (malformed input is dropped, see spec §1.4).
    pub const PARSE_ERROR: i64 = -32700;
    /// The envelope is not a valid request. Reserved: never put on the wire by clamator.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown service, unknown method, or no handler for the method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Params did not deserialize into the method's params type.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The handler failed with something other than an [`RpcError`](super::RpcError), or its
    /// result could not be serialized.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// First code of the band the clamator docs reserve for transports (-32000..=-32099).
    pub const TRANSPORT_BAND_START: i64 = -32000;
    /// Last code of the transport band.
    pub const TRANSPORT_BAND_END: i64 = -32099;
}

/// A JSON-RPC error object: what a handler returns to fail a call with a chosen code, and what a
/// caller receives from the remote side.
///
/// On the wire it is `{"code":…,"message":…,"data":…}`; `data` is `null` when there is nothing to
/// say, exactly as the clamator peers write it.
///
/// `Display` is `RPC error <code>: <message>`, followed by ` (data: <compact JSON>)` when
/// `data` is not `null`, so a logged or printed error keeps the detail a peer sent (the
/// validation errors of a `-32602`, the `{"name","message"}` of a `-32603`).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Machine-readable error code (see [`codes`]).
    pub code: i64,
    /// Human-readable message; matched by clamator's interop suite as a regex.
    pub message: String,
    /// Structured detail; `Value::Null` when absent.
    pub data: Value,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RPC error {}: {}", self.code, self.message)?;
        if !self.data.is_null() {
            write!(f, " (data: {})", self.data)?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// An error with no `data` (it goes on the wire as `null`).
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: Value::Null,
        }
    }

    /// Attaches structured detail for the caller.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// `-32601 Method not found`, data `null`: unknown service, method or handler.
    pub fn method_not_found() -> Self {
        Self::new(codes::METHOD_NOT_FOUND, "Method not found")
    }

    /// `-32602 Invalid params` with validation detail.
    pub fn invalid_params(data: Value) -> Self {
        Self::new(codes::INVALID_PARAMS, "Invalid params").with_data(data)
    }

    /// `-32603 Internal error` with `{"name","message"}` detail.
    pub fn internal(data: Value) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Internal error").with_data(data)
    }

    /// `-32603 Result validation failed`: the handler's result could not be serialized.
    pub fn result_validation_failed(data: Value) -> Self {
        Self::new(codes::INTERNAL_ERROR, "Result validation failed").with_data(data)
    }
}

/// Why an envelope is not a valid clamator envelope (spec §1.4). The `Display` text is the
/// peers' reason string, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// Step 1: a JSON array.
    #[error("batch requests not supported")]
    Batch,
    /// Step 2: not a JSON object.
    #[error("not an object")]
    NotAnObject,
    /// Step 3: `jsonrpc` is not the string `"2.0"`.
    #[error("jsonrpc must equal \"2.0\"")]
    JsonRpcVersion,
    /// Step 4: no dot, or an empty side of it.
    #[error("method must be \"<service>.<method>\"")]
    MethodShape,
    /// Step 4: the service part fails `^[a-z][a-z0-9-]*$`.
    #[error("invalid service segment")]
    ServiceSegment,
    /// Step 4: the method part fails `^[a-z][a-zA-Z0-9]*$`.
    #[error("invalid method segment")]
    MethodSegment,
    /// Step 4: `id` is present, not null, and neither a string nor an integer.
    #[error("id must be string or number")]
    IdType,
    /// Step 5: a success response without a usable id.
    #[error("response must have id")]
    ResponseId,
    /// Step 6: `error` is not an object with an integer `code` and a string `message`.
    #[error("error must have numeric code + string message")]
    ErrorShape,
    /// Step 7: none of the above kinds.
    #[error("envelope must be request, notification, or response")]
    UnknownKind,
}

/// The envelope is not valid clamator JSON-RPC. Displays as the peers do:
/// `-32600 Invalid Request: <reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("-32600 Invalid Request: {reason}")]
pub struct InvalidRequest {
    /// Which rule of spec §1.4 failed.
    pub reason: InvalidReason,
}

impl From<InvalidReason> for InvalidRequest {
    fn from(reason: InvalidReason) -> Self {
        Self { reason }
    }
}

/// Input that is not clamator JSON-RPC: never put on the wire, only returned or logged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text is not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not a valid envelope (spec §1.4).
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    /// A client received a reply that is not a valid envelope.
    #[error("invalid response envelope: {0}")]
    InvalidResponse(Box<ProtocolError>),
    /// A client received a request or notification where a response belongs.
    #[error("unexpected response kind: {0}")]
    UnexpectedResponseKind(&'static str),
    /// A success reply whose `result` does not deserialize into the method's result type.
    #[error("result does not match the contract: {0}")]
    ResultDecode(serde_json::Error),
    /// The text holds an integer literal outside `i64`/`u64` (e.g. `100000000000000000000`,
    /// which the Python peer keeps exact). A `serde_json::Value` without the crate-wide
    /// `arbitrary_precision` feature could only hold it as a rounded float (`1e+20`), which a
    /// handler or caller would then see, and an echo would write back, as a different number;
    /// the envelope is refused instead. Send such numbers as strings.
    #[error(
        "integer {literal} at {at} is outside the 64-bit range and cannot be read exactly; \
         send it as a string"
    )]
    IntegerOutOfRange {
        /// The literal as it appeared in the text.
        literal: String,
        /// Where it sits in the envelope, e.g. `params.amount` or `result.items[2]`.
        at: String,
    },
}

/// Boxed cause of a backend failure (a Redis error, an I/O error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The call could not be carried. `Display` texts match clamator's `ClamatorTransportError`
/// messages where the peer has one.
///
/// Only outcomes a caller may want to tell apart whatever the transport is live here, because
/// code written against an erased client (`clamator::AnyClient`, "memory in tests, Redis in
/// production") can only match on this enum: a timeout, a stopped or unstarted transport,
/// nobody serving the service, a reply known lost (any transport with bounded reply queues,
/// Redis today, a cluster next), inconsistent configuration. Everything else a transport can
/// hit is its backend failing, which is [`Backend`](Self::Backend) with the transport's own
/// error as the cause, to downcast where the transport matters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No reply within the call's timeout. Late replies are dropped.
    #[error("call timeout")]
    Timeout,
    /// A call or notify on a transport that is idle or stopped.
    #[error("transport not started (state={0})")]
    NotStarted(State),
    /// The transport stopped while the call was pending.
    #[error("transport stopped")]
    Stopped,
    /// The server side accepted the request but produced no response.
    #[error("dispatcher returned None for a request")]
    NoResponse,
    /// Nothing serves the service (fast failure instead of a timeout, where the transport can
    /// know it).
    #[error("no server for service \"{service}\"")]
    NoServer {
        /// The service that nobody consumes.
        service: String,
    },
    /// The reply may never come: the transport saw it (or replies like it) removed before it was
    /// read, e.g. a peer server capped the reply stream while more replies than its cap were
    /// unread. Fails the call at once instead of leaving it to time out; the request may or may
    /// not have run.
    #[error("reply lost: {0}")]
    ReplyLost(String),
    /// The transport was configured inconsistently (e.g. both a client and a URL given).
    #[error("{0}")]
    Config(String),
    /// The backend failed; `context` is the peer's message (e.g. `xadd failed`). `Display`
    /// is `<context>: <cause>` so a printed or logged error says why (the peers' message alone,
    /// `xadd failed`, hides it); the cause is also [`source`](std::error::Error::source), for
    /// callers that downcast it.
    #[error("{context}: {source}")]
    Backend {
        /// What was being done, in the peer's words.
        context: String,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },
}

impl TransportError {
    /// A backend failure with the peer's context text and its cause.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Everything the protocol crate's fallible operations can return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The remote side answered with a JSON-RPC error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// Malformed envelope or reply.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The call could not be carried.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A contract, service or method name that clamator would reject (spec §1.3), or a
    /// contract that declares a method twice.
    #[error("{0}")]
    InvalidName(String),
    /// A service whose handlers do not fit its contract: a handler for a method the contract
    /// lacks, for another service, or of the wrong kind (request vs notification). Separate
    /// from [`InvalidName`](Self::InvalidName) because every name involved is valid; the
    /// handler registration is what is wrong.
    #[error("{0}")]
    Registration(String),
    /// A service registered twice on one server or bus.
    #[error("service \"{service}\" already registered on this {scope}")]
    DuplicateService {
        /// The service name.
        service: String,
        /// `server` or `bus`, as in the peer's message.
        scope: &'static str,
    },
    /// An operation not allowed in the current lifecycle state (e.g. `server has been stopped`).
    #[error("{0}")]
    Lifecycle(&'static str),
    /// Params could not be serialized to JSON on the calling side.
    #[error("params could not be serialized: {0}")]
    ParamsEncode(serde_json::Error),
}

impl Error {
    /// The JSON-RPC error, if the remote side answered with one.
    pub fn as_rpc(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc(e) => Some(e),
            _ => None,
        }
    }

    /// True when the call timed out on the caller's side.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Transport(TransportError::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rpc_error_display_shows_data_when_there_is_some() {
        assert_eq!(
            RpcError::new(-32000, "division by zero").to_string(),
            "RPC error -32000: division by zero"
        );
        // One key: the text must not depend on whether `preserve_order` is unified in.
        let err = RpcError::internal(json!({"message": "disk gone"}));
        assert_eq!(
            err.to_string(),
            r#"RPC error -32603: Internal error (data: {"message":"disk gone"})"#
        );
    }

    #[test]
    fn backend_display_includes_the_cause() {
        let err = TransportError::backend("xadd failed", std::io::Error::other("connection reset"));
        assert_eq!(err.to_string(), "xadd failed: connection reset");
        let source = std::error::Error::source(&err).expect("the cause stays the source");
        assert_eq!(source.to_string(), "connection reset");
        let wrapped: Error = err.into();
        assert_eq!(wrapped.to_string(), "xadd failed: connection reset");
    }

    #[test]
    fn integer_out_of_range_says_what_and_where() {
        let err = ProtocolError::IntegerOutOfRange {
            literal: "100000000000000000000".into(),
            at: "params.amount".into(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("integer 100000000000000000000 at params.amount"),
            "{text}"
        );
        assert!(text.contains("send it as a string"), "{text}");
    }
}
