//! Tracing spans named and attributed after the OpenTelemetry semantic conventions for RPC, and
//! W3C trace context (`traceparent`, `tracestate`) carried next to the envelope.
//!
//! Why here: every transport needs the same span names and fields, and the same rules for a
//! trace context that arrives from the outside (validated, never trusted). The envelope itself
//! never gains keys (the peers compare it); the context travels beside it: as extra fields of
//! the Redis request entry, and through the current span on the memory bus.
//!
//! Without a tracing subscriber the spans cost one callsite check each. Without the `otel`
//! feature no trace context is produced ([`TraceContext::current`] is `None`) and an incoming
//! one is only validated and recorded; with it, the client's span context is written out and a
//! server span continues the caller's trace. A request without (or with a hostile) context
//! starts a new trace. The OpenTelemetry-only attributes (`otel.name`, `otel.kind`,
//! `otel.status_code`, `rpc.system`, `rpc.jsonrpc.version`) are built only with `otel`: a log
//! subscriber formats every field of every span, and on a busy client those constants cost
//! more than the rest of the span.

use tracing::field::Empty;
use tracing::Span;

use crate::envelope::{Id, Response};
use crate::error::Error;

/// Stream field (Redis request entry) holding the W3C `traceparent` of the caller's span.
pub const TRACEPARENT_FIELD: &str = "traceparent";
/// Stream field holding the W3C `tracestate`, written only when the caller has one.
pub const TRACESTATE_FIELD: &str = "tracestate";

/// Longest `tracestate` accepted (W3C: at most 32 members of at most 256 characters each).
const MAX_TRACESTATE: usize = 8192;

/// A W3C trace context as it travels beside an envelope. Only values that passed
/// [`TraceContext::parse`] exist, so a transport may write them out as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// Validates a received context: version `00` (or a later version's first four parts, as
    /// the W3C spec asks), 32 lowercase hex trace id and 16 hex span id, neither all zeros,
    /// 2 hex flags. Anything else is `None`: the request then starts a fresh trace. A
    /// `tracestate` that is too long or not printable ASCII is dropped, the parent kept.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let tp = traceparent.trim();
        if tp.len() < 55 || !tp.is_ascii() {
            return None;
        }
        let (version, rest) = (&tp[..2], &tp[2..]);
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        let b = rest.as_bytes();
        if b[0] != b'-' || b[33] != b'-' || b[50] != b'-' {
            return None;
        }
        let (trace_id, span_id, flags) = (&rest[1..33], &rest[34..50], &rest[51..53]);
        if !is_lower_hex(trace_id) || !is_lower_hex(span_id) || !is_lower_hex(flags) {
            return None;
        }
        if trace_id.bytes().all(|c| c == b'0') || span_id.bytes().all(|c| c == b'0') {
            return None;
        }
        // Version 00 is exactly 55 characters; a later version may append `-…` parts.
        if (version == "00" && tp.len() != 55) || (tp.len() > 55 && b[53] != b'-') {
            return None;
        }
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
            .filter(|s| s.bytes().all(|c| (0x20..0x7f).contains(&c)))
            .map(str::to_owned);
        Some(Self {
            traceparent: format!("00-{trace_id}-{span_id}-{flags}"),
            tracestate,
        })
    }

    /// Parses a context from raw field bytes (as read from a stream entry).
    pub fn from_bytes(traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<Self> {
        let tp = std::str::from_utf8(traceparent?).ok()?;
        let ts = tracestate.and_then(|b| std::str::from_utf8(b).ok());
        Self::parse(tp, ts)
    }

    /// The `traceparent` value (`00-<trace id>-<span id>-<flags>`).
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if the caller had one.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The 32-hex trace id.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The 16-hex id of the caller's span (the parent of the server span).
    pub fn parent_span_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// The context of the current span, for a transport to send beside a request. `None`
    /// without the `otel` feature or when the current span has no valid OpenTelemetry context
    /// (no `tracing-opentelemetry` layer installed).
    #[inline]
    pub fn current() -> Option<Self> {
        #[cfg(feature = "otel")]
        {
            otel::current()
        }
        #[cfg(not(feature = "otel"))]
        {
            None
        }
    }
}

/// Makes `span` continue a remote caller's trace, e.g. the `traceparent` header of an HTTP
/// request at a gateway: the bus calls made inside `span` then join that trace, parent to
/// child. Without the `otel` feature it does nothing.
pub fn set_remote_parent(span: &Span, parent: &TraceContext) {
    #[cfg(feature = "otel")]
    otel::set_parent(span, parent);
    #[cfg(not(feature = "otel"))]
    let _ = (span, parent);
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// A span of the RPC conventions. With `otel` it carries everything an OpenTelemetry exporter
/// reads: the `<service>/<method>` name and kind overrides and the constant attributes
/// (`rpc.system`, `rpc.jsonrpc.version`). Without it only the fields that vary are built: a log
/// subscriber formats every field of every span, and the constants would only repeat the
/// span's name (`rpc.client` / `rpc.server`) on each line at a measurable cost.
#[cfg(feature = "otel")]
macro_rules! rpc_span {
    ($name:literal, $kind:literal, $service:expr, $method:expr, $($field:tt)*) => {
        tracing::info_span!(
            $name,
            otel.name = %format_args!("{}/{}", $service, $method),
            otel.kind = $kind,
            otel.status_code = Empty,
            rpc.system = "jsonrpc",
            rpc.jsonrpc.version = "2.0",
            rpc.service = $service,
            rpc.method = $method,
            $($field)*
        )
    };
}

#[cfg(not(feature = "otel"))]
macro_rules! rpc_span {
    ($name:literal, $kind:literal, $service:expr, $method:expr, $($field:tt)*) => {
        tracing::info_span!($name, rpc.service = $service, rpc.method = $method, $($field)*)
    };
}

/// The client span of one call (`request_id` given) or notification: OTel RPC fields, kind
/// `client`, named `<service>/<method>` (see `rpc_span!` for what `otel` adds).
pub fn client_span(service: &str, method: &str, request_id: Option<&Id>) -> Span {
    rpc_span!(
        "rpc.client",
        "client",
        service,
        method,
        rpc.jsonrpc.request_id = request_id.map(tracing::field::display),
        rpc.jsonrpc.error_code = Empty,
        rpc.jsonrpc.error_message = Empty,
    )
}

/// Records a call's outcome on its client span (error code and message on failure).
pub fn record_client_outcome<T>(span: &Span, outcome: &Result<T, Error>) {
    if span.is_disabled() {
        return;
    }
    if let Err(e) = outcome {
        span.record("otel.status_code", "ERROR");
        match e {
            Error::Rpc(rpc) => {
                span.record("rpc.jsonrpc.error_code", rpc.code);
                span.record("rpc.jsonrpc.error_message", rpc.message.as_str());
            }
            other => {
                span.record("rpc.jsonrpc.error_message", tracing::field::display(other));
            }
        }
    }
}

/// The server span of one handled entry: OTel RPC fields, kind `server`, the stream entry id
/// (when the transport has one), continuing `parent` when it is given (and `otel` is on).
pub fn server_span(
    service: &str,
    method: &str,
    request_id: Option<&Id>,
    entry_id: Option<&str>,
    parent: Option<&TraceContext>,
) -> Span {
    let span = rpc_span!(
        "rpc.server",
        "server",
        service,
        method,
        rpc.jsonrpc.request_id = request_id.map(tracing::field::display),
        rpc.jsonrpc.error_code = Empty,
        rpc.jsonrpc.error_message = Empty,
        messaging.message.id = entry_id,
        // Recorded only when true: a peer's request (no context) costs no field.
        trace.parent.received = Empty,
        // Recorded only for a redelivered entry (see `record_redelivery`).
        clamator.delivery_count = Empty,
    );
    if parent.is_some() && !span.is_disabled() {
        span.record("trace.parent.received", true);
    }
    #[cfg(feature = "otel")]
    if let Some(parent) = parent {
        otel::set_parent(&span, parent);
    }
    #[cfg(not(feature = "otel"))]
    let _ = parent;
    span
}

/// Records on a server span how many times its entry was delivered, when more than once (a
/// reclaimed or re-read entry: its handler may have run before). A first delivery records
/// nothing, so the common case costs no field.
pub fn record_redelivery(span: &Span, deliveries: u64) {
    if deliveries > 1 && !span.is_disabled() {
        span.record("clamator.delivery_count", deliveries);
    }
}

/// Records the response (if any) on a server span.
pub fn record_server_outcome(span: &Span, response: Option<&Response>) {
    if span.is_disabled() {
        return;
    }
    if let Some(Response {
        outcome: Err(e), ..
    }) = response
    {
        span.record("otel.status_code", "ERROR");
        span.record("rpc.jsonrpc.error_code", e.code);
        span.record("rpc.jsonrpc.error_message", e.message.as_str());
    }
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::Context;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TraceContext;

    pub(super) fn current() -> Option<TraceContext> {
        let span = Span::current();
        if span.is_disabled() {
            return None;
        }
        let cx = span.context();
        let otel_span = cx.span();
        let sc = otel_span.span_context();
        if !sc.is_valid() {
            return None;
        }
        let traceparent = format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        );
        let state = sc.trace_state().header();
        TraceContext::parse(&traceparent, Some(&state))
    }

    pub(super) fn set_parent(span: &Span, parent: &TraceContext) {
        let (Ok(trace_id), Ok(span_id), Ok(flags)) = (
            TraceId::from_hex(parent.trace_id()),
            SpanId::from_hex(parent.parent_span_id()),
            u8::from_str_radix(&parent.traceparent[53..55], 16),
        ) else {
            return;
        };
        let state = parent
            .tracestate()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let sc = SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, state);
        let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    }
}

#[cfg(test)]
mod tests {
    use super::TraceContext;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_traceparent_parses() {
        let tc = TraceContext::parse(GOOD, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(tc.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tc.parent_span_id(), "00f067aa0ba902b7");
        assert_eq!(tc.tracestate(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn hostile_traceparents_are_ignored() {
        let long = "x".repeat(100_000);
        for bad in [
            "",
            "00",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            long.as_str(),
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad:.80}");
        }
        assert_eq!(TraceContext::from_bytes(Some(&[0xff, 0xfe]), None), None);
        assert_eq!(TraceContext::from_bytes(None, Some(b"a=b")), None);
    }

    #[test]
    fn hostile_tracestate_is_dropped_parent_kept() {
        let tc = TraceContext::parse(GOOD, Some(&"a".repeat(10_000))).unwrap();
        assert_eq!(tc.tracestate(), None);
        let tc = TraceContext::parse(GOOD, Some("a=b\r\nX: y")).unwrap();
        assert_eq!(tc.tracestate(), None);
    }

    #[test]
    fn later_version_keeps_the_known_parts() {
        let tc = TraceContext::parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever",
            None,
        )
        .unwrap();
        assert_eq!(tc.traceparent(), GOOD);
    }
}
