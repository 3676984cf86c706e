//! Trace context on the memory bus: the caller's context (its current span's, see
//! `clamator_protocol::telemetry::TraceContext::current`) is handed beside the envelope to the
//! server span, exactly as the Redis transport sends it in extra entry fields, so a trace looks
//! the same in tests as in production.

use clamator_protocol::telemetry::{self, TraceContext};
use clamator_protocol::{Notification, Request};
use tracing::Span;

/// The server span of a request dispatched on the bus.
pub(crate) fn server_span(request: &Request) -> Span {
    let parent = TraceContext::current();
    telemetry::server_span(
        &request.service,
        &request.method,
        Some(&request.id),
        None,
        parent.as_ref(),
    )
}

/// The server span of a notification dispatched on the bus.
pub(crate) fn notification_span(notification: &Notification) -> Span {
    let parent = TraceContext::current();
    telemetry::server_span(
        &notification.service,
        &notification.method,
        None,
        None,
        parent.as_ref(),
    )
}
