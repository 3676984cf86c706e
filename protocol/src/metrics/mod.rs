//! Metrics through the [`metrics`] facade (feature `metrics`): the application installs the
//! recorder it wants (Prometheus, OpenTelemetry, statsd, …); without one every call here is a
//! no-op costing an atomic load.
//!
//! Every name the crates of this workspace record is in [`names`], so dashboards and alerts can
//! be checked against the code. Label values are bounded: services and methods come from the
//! registered contracts (a method a contract lacks is [`labels::UNKNOWN`]), codes from the
//! reserved list ([`code_label`]; every other code is [`labels::APP`]). Call [`describe`] once
//! after installing a recorder so exporters show help text and units.
//!
//! The client labels calls made through a typed [`Method`](crate::Method) with its service and
//! method; [`call_raw`](crate::RpcClientCore::call_raw) names are caller-supplied strings, so
//! they are labelled [`labels::UNKNOWN`], and
//! [`call_raw_static`](crate::RpcClientCore::call_raw_static) names are `'static` (a gateway's
//! registered routes), so they label as they are.
//!
//! The hot path registers each handle once per recorder and `(service, method)` and reuses it
//! (see `handles`): recording a call costs a few atomic operations, not a registry lookup.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};

use crate::dispatcher::Dispatcher;
use crate::envelope::{Envelope, Response};
use crate::error::{codes, Error, TransportError};

/// Every metric name recorded by the clamator crates (one place, so a dashboard can be checked).
pub mod names {
    /// Counter `{service, method, outcome}`: calls a client made, by how they ended.
    pub const CLIENT_CALLS: &str = "clamator_client_calls_total";
    /// Histogram `{service, method}`: seconds from sending a call to its outcome.
    pub const CLIENT_CALL_DURATION: &str = "clamator_client_call_duration_seconds";
    /// Counter `{service, method, code}`: requests and notifications a server handled.
    pub const SERVER_REQUESTS: &str = "clamator_server_requests_total";
    /// Histogram `{service, method}`: seconds a server spent handling one envelope.
    pub const SERVER_HANDLER_DURATION: &str = "clamator_server_handler_duration_seconds";
    /// Gauge `{service}`: envelopes being handled now.
    pub const SERVER_IN_FLIGHT: &str = "clamator_server_in_flight";
    /// Counter `{service}`: entries moved to the dead-letter stream (Redis).
    pub const SERVER_DEAD_LETTERED: &str = "clamator_server_dead_lettered_total";
    /// Counter `{service}`: entries reclaimed from idle consumers (Redis `XAUTOCLAIM`).
    pub const SERVER_RECLAIMED: &str = "clamator_server_reclaimed_total";
    /// Counter `{service}`: requests skipped because their caller's timeout had passed (Redis).
    pub const SERVER_SKIPPED_EXPIRED: &str = "clamator_server_skipped_expired_total";
    /// Counter `{service, reason}`: command-stream entries dropped as malformed (Redis).
    pub const SERVER_MALFORMED: &str = "clamator_server_malformed_total";
    /// Counter `{connection}`: Redis connections opened again after one was lost.
    pub const REDIS_RECONNECTS: &str = "clamator_redis_reconnects_total";
    /// Gauge `{service}`: entries of the command stream not yet delivered to the group.
    pub const GROUP_LAG: &str = "clamator_group_lag";
    /// Gauge `{service}`: entries delivered to the group and not yet acknowledged.
    pub const GROUP_PENDING: &str = "clamator_group_pending";

    /// All of the above.
    pub const ALL: &[&str] = &[
        CLIENT_CALLS,
        CLIENT_CALL_DURATION,
        SERVER_REQUESTS,
        SERVER_HANDLER_DURATION,
        SERVER_IN_FLIGHT,
        SERVER_DEAD_LETTERED,
        SERVER_RECLAIMED,
        SERVER_SKIPPED_EXPIRED,
        SERVER_MALFORMED,
        REDIS_RECONNECTS,
        GROUP_LAG,
        GROUP_PENDING,
    ];
}

/// Fixed label values (everything that is not a registered service or method name).
pub mod labels {
    /// A service or method no registered contract declares (or a raw call's name).
    pub const UNKNOWN: &str = "_unknown";
    /// An error code outside the reserved list (an application's own code).
    pub const APP: &str = "app";
    /// Success (client outcome, server code).
    pub const OK: &str = "ok";
    /// Server code of an envelope that gets no response (a notification).
    pub const NONE: &str = "none";
    /// Client outcomes that are not a JSON-RPC error code.
    pub const TIMEOUT: &str = "timeout";
    /// The client found no server for the service.
    pub const NO_SERVER: &str = "no_server";
    /// The client or its transport was stopped (or not started).
    pub const STOPPED: &str = "stopped";
    /// Any other transport failure (Redis down, reply lost, …).
    pub const TRANSPORT: &str = "transport";
    /// The reply could not be decoded, or the call could not be encoded.
    pub const PROTOCOL: &str = "protocol";
    /// The call was refused before it was sent (an invalid service or method name).
    pub const INVALID: &str = "invalid";
}

mod handles;

use handles::{Cache, CallHandles, CountersBy, ServerHandles};

/// The reserved codes [`code_label`] names, in the order it matches them.
const CODE_LABELS: [&str; 7] = [
    "-32700", "-32600", "-32601", "-32602", "-32603", "-32001", "-32002",
];

/// Every value a `code` or `outcome` label takes: what [`code_label`], [`outcome_label`] and
/// the server's `none` / `ok` return. Each cached handle set has a slot per value.
const LABEL_VALUES: &[&str] = &[
    labels::OK,
    labels::NONE,
    labels::APP,
    CODE_LABELS[0],
    CODE_LABELS[1],
    CODE_LABELS[2],
    CODE_LABELS[3],
    CODE_LABELS[4],
    CODE_LABELS[5],
    CODE_LABELS[6],
    labels::TIMEOUT,
    labels::NO_SERVER,
    labels::STOPPED,
    labels::TRANSPORT,
    labels::PROTOCOL,
    labels::INVALID,
];

static CLIENT_HANDLES: Cache<CallHandles> = Cache::new();
static SERVER_HANDLES: Cache<ServerHandles> = Cache::new();

/// Help text and units for every metric in [`names`]. Call once after installing a recorder:
/// descriptions sent before a recorder exists are lost.
pub fn describe() {
    use names::*;
    describe_counter!(CLIENT_CALLS, "Calls made by clients, by outcome.");
    describe_histogram!(
        CLIENT_CALL_DURATION,
        Unit::Seconds,
        "Client call latency, send to outcome."
    );
    describe_counter!(SERVER_REQUESTS, "Envelopes handled by servers, by code.");
    describe_histogram!(
        SERVER_HANDLER_DURATION,
        Unit::Seconds,
        "Server time spent handling one envelope."
    );
    describe_gauge!(SERVER_IN_FLIGHT, "Envelopes being handled now.");
    describe_counter!(
        SERVER_DEAD_LETTERED,
        "Entries moved to the dead-letter stream."
    );
    describe_counter!(SERVER_RECLAIMED, "Entries reclaimed from idle consumers.");
    describe_counter!(
        SERVER_SKIPPED_EXPIRED,
        "Requests skipped because their caller's timeout had passed."
    );
    describe_counter!(
        SERVER_MALFORMED,
        "Command-stream entries dropped as malformed."
    );
    describe_counter!(REDIS_RECONNECTS, "Redis connections reopened after a loss.");
    describe_gauge!(
        GROUP_LAG,
        "Command-stream entries not yet delivered to the group."
    );
    describe_gauge!(
        GROUP_PENDING,
        "Entries delivered to the group, not yet acknowledged."
    );
}

/// The label of a JSON-RPC error code: the reserved codes as themselves, any other as
/// [`labels::APP`], so applications cannot grow the label set.
pub fn code_label(code: i64) -> &'static str {
    match code {
        codes::PARSE_ERROR => CODE_LABELS[0],
        codes::INVALID_REQUEST => CODE_LABELS[1],
        codes::METHOD_NOT_FOUND => CODE_LABELS[2],
        codes::INVALID_PARAMS => CODE_LABELS[3],
        codes::INTERNAL_ERROR => CODE_LABELS[4],
        // The Redis transport's handler timeout and dead-letter codes.
        -32001 => CODE_LABELS[5],
        -32002 => CODE_LABELS[6],
        _ => labels::APP,
    }
}

/// The client `outcome` label of a call's result.
pub fn outcome_label<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => labels::OK,
        Err(Error::Rpc(e)) => code_label(e.code),
        Err(Error::Transport(t)) => match t {
            TransportError::Timeout => labels::TIMEOUT,
            TransportError::NoServer { .. } => labels::NO_SERVER,
            TransportError::Stopped | TransportError::NotStarted(_) => labels::STOPPED,
            _ => labels::TRANSPORT,
        },
        Err(Error::Protocol(_) | Error::ParamsEncode(_)) => labels::PROTOCOL,
        Err(_) => labels::INVALID,
    }
}

/// A name from code (a typed method) is bounded by the program; an owned one came from input.
#[allow(clippy::ptr_arg)] // the variant is the point, not the text
fn bounded(name: &Cow<'static, str>) -> &'static str {
    match name {
        Cow::Borrowed(s) => s,
        Cow::Owned(_) => labels::UNKNOWN,
    }
}

/// The `(service, method)` labels of a call, taken before the names move into the request.
#[allow(clippy::ptr_arg)] // as `bounded`
pub(crate) fn call_labels(
    service: &Cow<'static, str>,
    method: &Cow<'static, str>,
) -> (&'static str, &'static str) {
    (bounded(service), bounded(method))
}

/// Records one finished client call (the client core calls this once per call).
pub(crate) fn record_client_call<T>(
    (service, method): (&'static str, &'static str),
    result: &Result<T, Error>,
    started: Instant,
) {
    let handles = CLIENT_HANDLES.get(service, method, || CallHandles {
        duration: metrics::histogram!(names::CLIENT_CALL_DURATION,
            "service" => service, "method" => method),
        outcomes: CountersBy::new(LABEL_VALUES),
    });
    // Duration first, count last (as the server's `finish`).
    handles.duration.record(started.elapsed().as_secs_f64());
    let outcome = outcome_label(result);
    handles
        .outcomes
        .get(outcome, || {
            counter!(names::CLIENT_CALLS, "service" => service, "method" => method,
                "outcome" => outcome)
        })
        .increment(1);
}

/// One envelope a server transport is handling: counted in flight from
/// [`start`](Self::start) until [`finish`](Self::finish) (or drop, when the handling is
/// abandoned, which records no request).
#[must_use = "finish it with the response, or the request is not counted"]
pub struct ServerRequest {
    service: &'static str,
    method: &'static str,
    handles: Arc<ServerHandles>,
    started: Instant,
}

impl std::fmt::Debug for ServerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerRequest")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl ServerRequest {
    /// Starts handling `envelope` on `dispatcher`'s service.
    pub fn start(dispatcher: &Dispatcher, envelope: &Envelope) -> Self {
        let method = match envelope {
            Envelope::Request(r) => r.method.as_ref(),
            Envelope::Notification(n) => n.method.as_ref(),
            Envelope::Response(_) => "",
        };
        let (service, method, handles) = server_handles(dispatcher, method);
        handles.in_flight.increment(1.0);
        Self {
            service,
            method,
            handles,
            started: Instant::now(),
        }
    }

    /// Counts a request the transport answered itself, before any handler (the Redis
    /// transport's -32602 for an integer no 64-bit type holds): under its method and code as
    /// a handled one, with no handler duration (none ran) and never in flight.
    pub fn refused(dispatcher: &Dispatcher, method: &str, response: &Response) {
        let (service, method, handles) = server_handles(dispatcher, method);
        count_request(&handles, (service, method), Some(response));
    }

    /// Records the outcome: the response's code ([`labels::NONE`] without one) and duration.
    pub fn finish(self, response: Option<&Response>) {
        let (labels, started) = ((self.service, self.method), self.started);
        let handles = Arc::clone(&self.handles);
        // Out of flight first and counted last: whoever sees the request counted also sees
        // its duration recorded and the gauge back down.
        drop(self);
        handles.duration.record(started.elapsed().as_secs_f64());
        count_request(&handles, labels, response);
    }
}

/// The bounded `(service, method)` labels of `method` on `dispatcher`'s service, and their
/// handles.
fn server_handles(
    dispatcher: &Dispatcher,
    method: &str,
) -> (&'static str, &'static str, Arc<ServerHandles>) {
    let service = dispatcher.service_name();
    let method = dispatcher.method_label(method).unwrap_or(labels::UNKNOWN);
    let handles = SERVER_HANDLES.get(service, method, || ServerHandles {
        in_flight: gauge!(names::SERVER_IN_FLIGHT, "service" => service),
        duration: metrics::histogram!(names::SERVER_HANDLER_DURATION,
            "service" => service, "method" => method),
        codes: CountersBy::new(LABEL_VALUES),
    });
    (service, method, handles)
}

/// Counts one handled envelope under its response's code ([`labels::NONE`] without one).
fn count_request(
    handles: &ServerHandles,
    (service, method): (&'static str, &'static str),
    response: Option<&Response>,
) {
    let code = match response.map(|r| &r.outcome) {
        None => labels::NONE,
        Some(Ok(_)) => labels::OK,
        Some(Err(e)) => code_label(e.code),
    };
    handles
        .codes
        .get(code, || {
            counter!(names::SERVER_REQUESTS, "service" => service, "method" => method,
                "code" => code)
        })
        .increment(1);
}

impl Drop for ServerRequest {
    fn drop(&mut self) {
        self.handles.in_flight.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ProtocolError, RpcError};

    #[test]
    fn codes_outside_the_reserved_list_are_app() {
        assert_eq!(code_label(-32601), "-32601");
        assert_eq!(code_label(-32001), "-32001");
        for app in [-32000, -32099, 1, 0, i64::MIN, i64::MAX, 404] {
            assert_eq!(code_label(app), labels::APP, "{app}");
        }
    }

    #[test]
    fn outcomes_are_a_fixed_set() {
        let ok: Result<(), Error> = Ok(());
        assert_eq!(outcome_label(&ok), "ok");
        let app: Result<(), Error> = Err(RpcError::new(7, "x").into());
        assert_eq!(outcome_label(&app), "app");
        let timeout: Result<(), Error> = Err(TransportError::Timeout.into());
        assert_eq!(outcome_label(&timeout), "timeout");
        let stopped: Result<(), Error> = Err(TransportError::Stopped.into());
        assert_eq!(outcome_label(&stopped), "stopped");
        let invalid: Result<(), Error> = Err(Error::InvalidName("bad".into()));
        assert_eq!(outcome_label(&invalid), "invalid");
    }

    #[test]
    fn the_label_lists_hold_every_label_returned() {
        for code in [
            -32700, -32600, -32601, -32602, -32603, -32001, -32002, -32000, 7,
        ] {
            assert!(LABEL_VALUES.contains(&code_label(code)), "{code}");
        }
        let results: [Result<(), Error>; 7] = [
            Ok(()),
            Err(RpcError::new(-32602, "x").into()),
            Err(TransportError::Timeout.into()),
            Err(TransportError::NoServer {
                service: "s".into(),
            }
            .into()),
            Err(TransportError::Stopped.into()),
            Err(Error::Protocol(ProtocolError::UnexpectedResponseKind("x"))),
            Err(Error::InvalidName("x".into())),
        ];
        for r in &results {
            assert!(LABEL_VALUES.contains(&outcome_label(r)), "{r:?}");
        }
        assert!(LABEL_VALUES.contains(&labels::NONE));
    }

    #[test]
    fn owned_names_collapse_to_unknown() {
        assert_eq!(bounded(&Cow::Borrowed("arith")), "arith");
        assert_eq!(bounded(&Cow::Owned("arith".into())), labels::UNKNOWN);
    }
}
