//! The two small traits a transport implements. A server transport only receives (it has no
//! `send`), a client transport only sends: neither side carries methods it cannot honour.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use crate::dispatcher::Dispatcher;
use crate::envelope::{Notification, Request, Response};
use crate::error::Error;
use crate::replies::Replies;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// Carries a client's requests and notifications and brings responses back: only I/O.
///
/// The [`RpcClientCore`](crate::RpcClientCore) owns everything else: the lifecycle (it calls
/// `start` once and `stop` once, and refuses calls outside `started`), the call timeout, the
/// table of waiting calls ([`Replies`]) and the in-flight limit. A transport whose responses
/// arrive on their own (a reply stream) hands them to the [`Replies`] it got in `start`; one
/// that gets a response back inline (an in-process bus) returns it from `send`.
pub trait ClientTransport: Send + Sync + 'static {
    /// True when `send` returns the response itself; the core then registers nothing in
    /// [`Replies`] for the call (an in-process bus pays no table lookup).
    fn answers_inline(&self) -> bool {
        false
    }

    /// Makes the transport ready to send (e.g. connects and starts a reply reader that hands
    /// responses to `replies`). Called once; on failure nothing may be left running.
    fn start(&self, replies: Replies) -> impl Future<Output = Result<(), Error>> + Send;

    /// Sends a request. `timeout` is the caller's whole budget (the core enforces it; a
    /// transport may pass it on, e.g. so a server can skip a request whose caller gave up).
    /// Returns the response when the transport got it inline ([`answers_inline`](Self::answers_inline)),
    /// else `None`: the response will come through [`Replies`].
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<Response>, Error>> + Send;

    /// Sends a notification; resolves once the transport accepted it (no delivery receipt).
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Error>> + Send;

    /// Releases everything (reply reader, connections). Called once, after `start` succeeded;
    /// the core fails the calls still waiting with `transport stopped`.
    fn stop(&self) -> impl Future<Output = ()> + Send;

    /// The call timeout this transport was configured with, if any (the core's default
    /// otherwise is the peers' 30 s).
    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    /// Most calls that may wait for a response at once (the core makes further callers wait
    /// for a slot, within their timeout); `None`: no limit. A reply stream capped by its
    /// servers needs one.
    fn max_in_flight(&self) -> Option<usize> {
        None
    }
}

/// Any client transport behind one type, so code that picks "memory in tests, Redis in
/// production" at run time needs no generic parameter (see `RpcClientCore::erase`). Costs one
/// boxed future per call.
pub struct DynClientTransport(Box<dyn ErasedClientTransport>);

impl DynClientTransport {
    /// Erases `transport`.
    pub fn new<T: ClientTransport>(transport: T) -> Self {
        Self(Box::new(transport))
    }

    /// The transport inside, if it is a `T` (e.g. to read a Redis client's counters).
    pub fn downcast_ref<T: ClientTransport>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }
}

impl std::fmt::Debug for DynClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynClientTransport")
    }
}

/// The dyn-compatible mirror of [`ClientTransport`] (boxed futures instead of `impl Future`).
trait ErasedClientTransport: Send + Sync + 'static {
    fn start(&self, replies: Replies) -> BoxFuture<'_, Result<(), Error>>;
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Option<Response>, Error>>;
    fn notify(&self, notification: Notification) -> BoxFuture<'_, Result<(), Error>>;
    fn stop(&self) -> BoxFuture<'_, ()>;
    fn answers_inline(&self) -> bool;
    fn default_timeout(&self) -> Option<Duration>;
    fn max_in_flight(&self) -> Option<usize>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: ClientTransport> ErasedClientTransport for T {
    fn start(&self, replies: Replies) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(ClientTransport::start(self, replies))
    }
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Option<Response>, Error>> {
        Box::pin(ClientTransport::send(self, request, timeout))
    }
    fn notify(&self, notification: Notification) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(ClientTransport::notify(self, notification))
    }
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(ClientTransport::stop(self))
    }
    fn answers_inline(&self) -> bool {
        ClientTransport::answers_inline(self)
    }
    fn default_timeout(&self) -> Option<Duration> {
        ClientTransport::default_timeout(self)
    }
    fn max_in_flight(&self) -> Option<usize> {
        ClientTransport::max_in_flight(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl ClientTransport for DynClientTransport {
    fn answers_inline(&self) -> bool {
        self.0.answers_inline()
    }
    fn start(&self, replies: Replies) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.start(replies)
    }
    fn send(
        &self,
        request: Request,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<Response>, Error>> + Send {
        self.0.send(request, timeout)
    }
    fn notify(&self, notification: Notification) -> impl Future<Output = Result<(), Error>> + Send {
        self.0.notify(notification)
    }
    fn stop(&self) -> impl Future<Output = ()> + Send {
        self.0.stop()
    }
    fn default_timeout(&self) -> Option<Duration> {
        self.0.default_timeout()
    }
    fn max_in_flight(&self) -> Option<usize> {
        self.0.max_in_flight()
    }
}
