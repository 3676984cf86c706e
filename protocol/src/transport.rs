//! The two small traits a transport implements. A server transport only receives (it has no
//! `send`), a client transport only sends: neither side carries methods it cannot honour.

use std::future::Future;
use std::time::Duration;

use crate::dispatcher::Dispatcher;
use crate::envelope::{Notification, Request, Response};
use crate::error::Error;

/// Carries requests to dispatchers and their responses back (memory bus, Redis streams, …).
///
/// The core calls `start` once, then on stop `close_intake`, waits for in-flight handlers up to
/// its grace window, then `stop`.
pub trait ServerTransport: Send + Sync + 'static {
    /// Starts serving one dispatcher per registered service. On failure the transport must
    /// leave nothing half-started, so the caller may retry.
    fn start(&self, dispatchers: Vec<Dispatcher>)
        -> impl Future<Output = Result<(), Error>> + Send;

    /// Stops taking new work; work already taken keeps running and is still answered.
    fn close_intake(&self) -> impl Future<Output = ()> + Send;

    /// Releases everything. Work still running is abandoned (over Redis it stays pending, for
    /// another server to claim).
    fn stop(&self) -> impl Future<Output = ()> + Send;
}

/// Carries a client's requests and notifications and brings responses back.
pub trait ClientTransport: Send + Sync + 'static {
    /// Makes the transport ready to send (e.g. starts a reply reader). Idempotent.
    fn start(&self) -> impl Future<Output = Result<(), Error>> + Send;

    /// Sends a request and waits up to `timeout` for its response. Errors: `call timeout`,
    /// `transport not started (state=…)`, `transport stopped`, backend failures, or a protocol
    /// error for a malformed reply.
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// Sends a notification; resolves once the transport accepted it (no delivery receipt).
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Error>> + Send;

    /// Stops; pending calls fail with `transport stopped`. Idempotent.
    fn stop(&self) -> impl Future<Output = ()> + Send;
}
