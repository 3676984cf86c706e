//! `RpcClientCore`: typed calls and notifications over any [`ClientTransport`].
//!
//! The core owns everything that is not I/O, identically for every transport: the lifecycle
//! (idle → started → stopped, idempotent start and stop, calls refused outside `started`), the
//! call timeout, the table of waiting calls ([`Replies`]) that fails them with
//! `transport stopped` on stop, and the in-flight limit a transport asks for.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::contract::{Method, NotificationMethod};
use crate::envelope::{Id, Notification, Request, Response};
use crate::error::{Error, ProtocolError, TransportError};
use crate::names::{is_valid_method, is_valid_service};
use crate::omit_none;
use crate::replies::{self, Replies};
use crate::state::State;
use crate::telemetry;
use crate::transport::{ClientTransport, DynClientTransport};

/// The peers' default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(30_000);

const IDLE: u8 = 0;
const STARTED: u8 = 1;
const STOPPED: u8 = 2;

/// Transport-independent client: builds envelopes, owns the lifecycle, the call timeout and
/// the waiting calls, turns responses into values or [`Error::Rpc`].
#[derive(Debug)]
pub struct RpcClientCore<T> {
    transport: T,
    default_timeout: Duration,
    state: AtomicU8,
    lifecycle: tokio::sync::Mutex<()>,
    replies: Replies,
    stopped: CancellationToken,
    in_flight: Option<Semaphore>,
    /// Calls of a transport that answers inline (not in `replies`) waiting now.
    inline_waiting: AtomicUsize,
}

impl<T: ClientTransport> RpcClientCore<T> {
    /// A client calling through `transport` (or anything that converts into one, such as a
    /// transport's options), with the transport's default timeout (else the peers' 30 s).
    pub fn new(transport: impl Into<T>) -> Self {
        let transport = transport.into();
        Self {
            default_timeout: transport.default_timeout().unwrap_or(DEFAULT_CALL_TIMEOUT),
            in_flight: transport
                .max_in_flight()
                .map(|n| Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS))),
            transport,
            state: AtomicU8::new(IDLE),
            lifecycle: tokio::sync::Mutex::new(()),
            replies: Replies::default(),
            stopped: CancellationToken::new(),
            inline_waiting: AtomicUsize::new(0),
        }
    }

    /// The same client over an erased transport ([`DynClientTransport`]), for code that must
    /// not be generic over the transport. Keeps its state, timeout and waiting calls.
    pub fn erase(self) -> RpcClientCore<DynClientTransport> {
        RpcClientCore {
            transport: DynClientTransport::new(self.transport),
            default_timeout: self.default_timeout,
            state: self.state,
            lifecycle: self.lifecycle,
            replies: self.replies,
            stopped: self.stopped,
            in_flight: self.in_flight,
            inline_waiting: self.inline_waiting,
        }
    }

    /// Sets the timeout used by calls that do not give their own.
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The timeout used by calls that do not give their own.
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// Starts the transport. Idempotent; after `stop()` it fails with `client has been stopped`.
    /// A failed start leaves the client idle, so it may be retried.
    pub async fn start(&self) -> Result<(), Error> {
        let _lifecycle = self.lifecycle.lock().await;
        match self.state.load(Ordering::Acquire) {
            STARTED => return Ok(()),
            STOPPED => return Err(Error::Lifecycle("client has been stopped")),
            _ => {}
        }
        self.transport.start(self.replies.clone()).await?;
        self.state.store(STARTED, Ordering::Release);
        Ok(())
    }

    /// Stops the transport; pending calls fail with `transport stopped`. Idempotent.
    pub async fn stop(&self) {
        let _lifecycle = self.lifecycle.lock().await;
        let previous = self.state.swap(STOPPED, Ordering::AcqRel);
        self.stopped.cancel();
        if previous == STARTED {
            self.transport.stop().await;
        }
        self.replies.fail_all_stopped();
    }

    /// Current lifecycle state.
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            IDLE => State::Idle,
            STARTED => State::Started,
            _ => State::Stopped,
        }
    }

    /// Calls waiting for a response now.
    pub fn pending_calls(&self) -> usize {
        self.replies.waiting() + self.inline_waiting.load(Ordering::Relaxed)
    }

    fn ensure_started(&self) -> Result<(), Error> {
        match self.state() {
            State::Started => Ok(()),
            other => Err(TransportError::NotStarted(other).into()),
        }
    }

    /// Calls a typed method with the default timeout.
    pub async fn call<P, R>(&self, method: Method<P, R>, params: &P) -> Result<R, Error>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        self.call_with_timeout(method, params, self.default_timeout)
            .await
    }

    /// Calls a typed method with its own timeout.
    pub async fn call_with_timeout<P, R>(
        &self,
        method: Method<P, R>,
        params: &P,
        timeout: Duration,
    ) -> Result<R, Error>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let params = omit_none::to_value(params).map_err(Error::ParamsEncode)?;
        let (service, name) = (
            Cow::Borrowed(method.service()),
            Cow::Borrowed(method.name()),
        );
        let result = self.send(service, name, params, timeout).await?;
        // Deserializing from the owned value moves strings instead of copying them.
        R::deserialize(result).map_err(|e| ProtocolError::ResultDecode(e).into())
    }

    /// Sends a typed notification. Resolves once the transport accepted it.
    pub async fn notify<P: Serialize>(
        &self,
        method: NotificationMethod<P>,
        params: &P,
    ) -> Result<(), Error> {
        let params = omit_none::to_value(params).map_err(Error::ParamsEncode)?;
        let (service, name) = (
            Cow::Borrowed(method.service()),
            Cow::Borrowed(method.name()),
        );
        self.send_notification(service, name, params).await
    }

    /// Calls by name with JSON params; the result is returned unvalidated, as the peers do.
    pub async fn call_raw(
        &self,
        service: &str,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let (service, method) = (
            Cow::Owned(service.to_owned()),
            Cow::Owned(method.to_owned()),
        );
        self.send(service, method, params, timeout).await
    }

    /// [`call_raw`](Self::call_raw) with names fixed in the program (a contract's, a gateway's
    /// route table). `'static` names are bounded, so they label the call's metrics as they
    /// are; `call_raw`'s names come from input and are labelled `_unknown`.
    pub async fn call_raw_static(
        &self,
        service: &'static str,
        method: &'static str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let timeout = timeout.unwrap_or(self.default_timeout);
        let (service, method) = (Cow::Borrowed(service), Cow::Borrowed(method));
        self.send(service, method, params, timeout).await
    }

    /// [`notify_raw`](Self::notify_raw) with names fixed in the program (see
    /// [`call_raw_static`](Self::call_raw_static)).
    pub async fn notify_raw_static(
        &self,
        service: &'static str,
        method: &'static str,
        params: Value,
    ) -> Result<(), Error> {
        let (service, method) = (Cow::Borrowed(service), Cow::Borrowed(method));
        self.send_notification(service, method, params).await
    }

    /// Sends a notification by name with JSON params.
    pub async fn notify_raw(
        &self,
        service: &str,
        method: &str,
        params: Value,
    ) -> Result<(), Error> {
        let (service, method) = (
            Cow::Owned(service.to_owned()),
            Cow::Owned(method.to_owned()),
        );
        self.send_notification(service, method, params).await
    }

    async fn send(
        &self,
        service: Cow<'static, str>,
        method: Cow<'static, str>,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let id = Id::new_uuid();
        let span = telemetry::client_span(&service, &method, Some(&id));
        #[cfg(feature = "metrics")]
        let (started, labels) = (
            std::time::Instant::now(),
            crate::metrics::call_labels(&service, &method),
        );
        let result = self
            .send_in_span(id, service, method, params, timeout)
            .instrument(span.clone())
            .await;
        telemetry::record_client_outcome(&span, &result);
        #[cfg(feature = "metrics")]
        crate::metrics::record_client_call(labels, &result, started);
        result
    }

    async fn send_in_span(
        &self,
        id: Id,
        service: Cow<'static, str>,
        method: Cow<'static, str>,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        check_names(&service, &method)?;
        self.ensure_started()?;
        let request = Request {
            id,
            service,
            method,
            params,
        };
        let exchange = self.exchange(request, timeout);
        tokio::pin!(exchange);
        // Most in-process calls finish on their first poll: answer them before arming a timer
        // or a stop watcher (either costs more than such a call).
        let first = std::future::poll_fn(|cx| Poll::Ready(exchange.as_mut().poll(cx))).await;
        if let Poll::Ready(response) = first {
            return response?.outcome.map_err(Error::Rpc);
        }
        // An inline call still running is pending too (registered calls are in `replies`).
        let _counted = self.transport.answers_inline().then(|| {
            self.inline_waiting.fetch_add(1, Ordering::Relaxed);
            Decrement(&self.inline_waiting)
        });
        let response = tokio::select! {
            biased;
            // Armed after the first poll: for a remote transport that poll only wrote the
            // request (microseconds), so the caller's budget is what it asked for.
            r = tokio::time::timeout(timeout, exchange) => match r {
                Ok(response) => response?,
                Err(_elapsed) => return Err(TransportError::Timeout.into()),
            },
            () = self.stopped.cancelled() => return Err(TransportError::Stopped.into()),
        };
        response.outcome.map_err(Error::Rpc)
    }

    /// One request and its response, without the timeout (the caller applies it).
    async fn exchange(&self, request: Request, timeout: Duration) -> Result<Response, Error> {
        let _slot = match &self.in_flight {
            Some(slots) => Some(slots.acquire().await.map_err(|_| replies::stopped())?),
            None => None,
        };
        if self.transport.answers_inline() {
            return self
                .transport
                .send(request, timeout)
                .await?
                .ok_or_else(|| TransportError::NoResponse.into());
        }
        let key = request.id.key().into_owned();
        let answer = self.replies.register(key.clone());
        let _waiting = Waiting {
            replies: &self.replies,
            key: &key,
        };
        if let Some(response) = self.transport.send(request, timeout).await? {
            return Ok(response);
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(replies::stopped()),
        }
    }

    async fn send_notification(
        &self,
        service: Cow<'static, str>,
        method: Cow<'static, str>,
        params: Value,
    ) -> Result<(), Error> {
        let span = telemetry::client_span(&service, &method, None);
        let result = async {
            check_names(&service, &method)?;
            self.ensure_started()?;
            let notification = Notification {
                service,
                method,
                params,
            };
            self.transport.notify(notification).await
        }
        .instrument(span.clone())
        .await;
        telemetry::record_client_outcome(&span, &result);
        result
    }

    /// The transport, e.g. to read its counters.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

/// Uncounts an inline call however it ends.
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes a call from the waiting table however it ends (answer, error, timeout, dropped).
struct Waiting<'a> {
    replies: &'a Replies,
    key: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.replies.forget(self.key);
    }
}

fn check_names(service: &str, method: &str) -> Result<(), Error> {
    if !is_valid_service(service) {
        return Err(Error::InvalidName(format!("invalid service \"{service}\"")));
    }
    if !is_valid_method(method) {
        return Err(Error::InvalidName(format!("invalid method \"{method}\"")));
    }
    Ok(())
}
