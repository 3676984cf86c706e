//! The Redis transport's metric events, one function per event point (beside the matching
//! [`stats`](crate::stats) counter, so the two never disagree). Names are in
//! `clamator_protocol::metrics::names`. Without the `metrics` feature every function is an
//! empty inline body and [`ServerRequest`] is a zero-sized stand-in: nothing is compiled in.

#[cfg(feature = "metrics")]
pub(crate) use enabled::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::*;

/// Why a command-stream entry was dropped: the `reason` label (a fixed set).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Malformed {
    NoEnvelope,
    NotUtf8,
    BadReplyTo,
    Response,
    InvalidEnvelope,
}

impl Malformed {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Malformed::NoEnvelope => "no_envelope",
            Malformed::NotUtf8 => "not_utf8",
            Malformed::BadReplyTo => "bad_reply_to",
            Malformed::Response => "response",
            Malformed::InvalidEnvelope => "invalid_envelope",
        }
    }
}

/// Which connection was reopened: the `connection` label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Conn {
    /// The shared multiplexed connection (writes, acks, maintenance).
    Shared,
    /// A server's blocking `XREADGROUP` connection.
    ServerReader,
    /// A client's blocking reply-stream connection.
    ClientReader,
}

#[cfg(feature = "metrics")]
mod enabled {
    use clamator_protocol::metrics::names;
    use metrics::{counter, gauge};

    use super::{Conn, Malformed};

    pub(crate) use clamator_protocol::metrics::ServerRequest;

    pub(crate) fn refused(
        dispatcher: &clamator_protocol::Dispatcher,
        method: &str,
        response: &clamator_protocol::Response,
    ) {
        ServerRequest::refused(dispatcher, method, response);
    }

    pub(crate) fn malformed(service: &'static str, reason: Malformed) {
        counter!(names::SERVER_MALFORMED, "service" => service, "reason" => reason.label())
            .increment(1);
    }

    pub(crate) fn dead_lettered(service: &'static str) {
        counter!(names::SERVER_DEAD_LETTERED, "service" => service).increment(1);
    }

    pub(crate) fn reclaimed(service: &'static str) {
        counter!(names::SERVER_RECLAIMED, "service" => service).increment(1);
    }

    pub(crate) fn skipped_expired(service: &'static str) {
        counter!(names::SERVER_SKIPPED_EXPIRED, "service" => service).increment(1);
    }

    pub(crate) fn reconnect(conn: Conn) {
        let label = match conn {
            Conn::Shared => "shared",
            Conn::ServerReader => "server_reader",
            Conn::ClientReader => "client_reader",
        };
        counter!(names::REDIS_RECONNECTS, "connection" => label).increment(1);
    }

    #[allow(clippy::cast_precision_loss)] // gauges are f64; a lag past 2^53 is still "huge"
    pub(crate) fn group(service: &'static str, lag: Option<u64>, pending: u64) {
        if let Some(lag) = lag {
            gauge!(names::GROUP_LAG, "service" => service).set(lag as f64);
        }
        gauge!(names::GROUP_PENDING, "service" => service).set(pending as f64);
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use clamator_protocol::{Dispatcher, Envelope, Response};

    use super::{Conn, Malformed};

    /// Zero-sized: handling is not measured without the feature.
    pub(crate) struct ServerRequest;

    impl ServerRequest {
        #[inline(always)]
        pub(crate) fn start(_: &Dispatcher, _: &Envelope) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn finish(self, _: Option<&Response>) {}
    }

    #[inline(always)]
    pub(crate) fn refused(_: &Dispatcher, _: &str, _: &Response) {}
    #[inline(always)]
    pub(crate) fn malformed(_: &'static str, _: Malformed) {}
    #[inline(always)]
    pub(crate) fn dead_lettered(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn reclaimed(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn skipped_expired(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn reconnect(_: Conn) {}
}
