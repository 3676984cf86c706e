//! `RpcClientCore`: typed calls and notifications over any [`ClientTransport`].

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::contract::{Method, NotificationMethod};
use crate::envelope::{Id, Notification, Request};
use crate::error::{Error, ProtocolError, State};
use crate::names::{is_valid_method, is_valid_service};
use crate::omit_none;
use crate::server::lock;
use crate::transport::ClientTransport;

/// The peers' default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Transport-independent client: builds envelopes, applies the call timeout, turns responses
/// into values or [`Error::Rpc`].
#[derive(Debug)]
pub struct RpcClientCore<T> {
    transport: T,
    default_timeout: Duration,
    state: Mutex<State>,
    lifecycle: tokio::sync::Mutex<()>,
}

impl<T: ClientTransport> RpcClientCore<T> {
    /// A client calling through `transport`, with the 30 s default timeout.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            default_timeout: DEFAULT_CALL_TIMEOUT,
            state: Mutex::new(State::Idle),
            lifecycle: tokio::sync::Mutex::new(()),
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
    pub async fn start(&self) -> Result<(), Error> {
        let _lifecycle = self.lifecycle.lock().await;
        match *lock(&self.state) {
            State::Started => return Ok(()),
            State::Stopped => return Err(Error::Lifecycle("client has been stopped")),
            State::Idle => {}
        }
        self.transport.start().await?;
        *lock(&self.state) = State::Started;
        Ok(())
    }

    /// Stops the transport; pending calls fail with `transport stopped`. Idempotent.
    pub async fn stop(&self) {
        let _lifecycle = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        if previous == State::Started {
            self.transport.stop().await;
        }
    }

    /// Current lifecycle state.
    pub fn state(&self) -> State {
        *lock(&self.state)
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
        check_names(&service, &method)?;
        let request = Request {
            id: Id::new_uuid(),
            service,
            method,
            params,
        };
        let response = self.transport.send(request, timeout).await?;
        response.outcome.map_err(Error::Rpc)
    }

    async fn send_notification(
        &self,
        service: Cow<'static, str>,
        method: Cow<'static, str>,
        params: Value,
    ) -> Result<(), Error> {
        check_names(&service, &method)?;
        let notification = Notification {
            service,
            method,
            params,
        };
        self.transport.notify(notification).await
    }

    /// The transport, e.g. to read its counters.
    pub fn transport(&self) -> &T {
        &self.transport
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
