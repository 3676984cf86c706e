//! Trace context beside the envelope over Redis: extra fields of the request entry
//! (`traceparent`, `tracestate`), which the peers ignore, and the server span of an entry.
//! Span names and the validation of incoming values live in `clamator_protocol::telemetry`.

use clamator_protocol::telemetry::{self, TraceContext, TRACEPARENT_FIELD, TRACESTATE_FIELD};
use clamator_protocol::Envelope;
use tracing::Span;

use crate::ops::StreamEntry;

/// Appends the trace fields to a request entry being written (nothing when `trace` is `None`).
pub(crate) fn push_trace_fields<'a>(
    entry: &mut Vec<(&str, &'a str)>,
    trace: Option<&'a TraceContext>,
) {
    if let Some(tc) = trace {
        entry.push((TRACEPARENT_FIELD, tc.traceparent()));
        if let Some(state) = tc.tracestate() {
            entry.push((TRACESTATE_FIELD, state));
        }
    }
}

/// The trace context a received entry carries, if valid; a hostile or missing one is `None`
/// (the handler then starts a new trace).
pub(crate) fn entry_trace(entry: &StreamEntry) -> Option<TraceContext> {
    TraceContext::from_bytes(entry.get(TRACEPARENT_FIELD), entry.get(TRACESTATE_FIELD))
}

/// The server span of one entry about to be dispatched.
pub(crate) fn server_span(service: &str, entry: &StreamEntry, envelope: &Envelope) -> Span {
    let (method, id) = match envelope {
        Envelope::Request(r) => (r.method.as_ref(), Some(&r.id)),
        Envelope::Notification(n) => (n.method.as_ref(), None),
        Envelope::Response(_) => ("", None),
    };
    // No subscriber listens at INFO: skip parsing the context (one static check).
    let parent = if tracing::level_enabled!(tracing::Level::INFO) {
        entry_trace(entry)
    } else {
        None
    };
    telemetry::server_span(service, method, id, Some(&entry.id), parent.as_ref())
}
