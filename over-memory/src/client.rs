//! Client side: looks the service up on the bus and runs its dispatcher as a task.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Poll;
use std::time::Duration;

use clamator_protocol::{
    ClientTransport, Envelope, Error, Notification, Request, Response, RpcClientCore, RpcError,
    State, TransportError,
};
use tokio_util::sync::CancellationToken;

use crate::bus::MemoryBus;

/// A clamator client on a [`MemoryBus`].
pub type MemoryRpcClient = RpcClientCore<MemoryClientTransport>;

const IDLE: u8 = 0;
const STARTED: u8 = 1;
const STOPPED: u8 = 2;

/// Hands envelopes to the bus's dispatchers. A handler that completes on its first poll runs
/// inline; one that waits continues in its own task, so a caller that times out does not cancel
/// the server's work (as with a remote server).
#[derive(Debug)]
pub struct MemoryClientTransport {
    bus: MemoryBus,
    state: AtomicU8,
    stopped: CancellationToken,
}

impl MemoryClientTransport {
    /// A transport calling services on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self {
            bus: bus.clone(),
            state: AtomicU8::new(IDLE),
            stopped: CancellationToken::new(),
        }
    }

    fn ensure_started(&self) -> Result<(), Error> {
        match self.state.load(Ordering::Acquire) {
            STARTED => Ok(()),
            IDLE => Err(TransportError::NotStarted(State::Idle).into()),
            _ => Err(TransportError::NotStarted(State::Stopped).into()),
        }
    }
}

impl ClientTransport for MemoryClientTransport {
    async fn start(&self) -> Result<(), Error> {
        match self
            .state
            .compare_exchange(IDLE, STARTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(STARTED) => Ok(()),
            Err(_) => Err(TransportError::HasBeenStopped.into()),
        }
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, Error> {
        self.ensure_started()?;
        let Some(dispatcher) = self.bus.lookup(&request.service) else {
            return Ok(Response {
                id: request.id.into(),
                outcome: Err(RpcError::method_not_found()),
            });
        };
        // Most handlers finish without waiting: run the first poll inline and spawn only what
        // is still pending. Once spawned, a caller that times out cannot cancel the work (as
        // with a remote server).
        let mut dispatch = Box::pin(dispatcher.dispatch(Envelope::Request(request)));
        let first = std::future::poll_fn(|cx| Poll::Ready(dispatch.as_mut().poll(cx))).await;
        if let Poll::Ready(response) = first {
            return response.ok_or_else(|| TransportError::NoResponse.into());
        }
        let handler = tokio::spawn(dispatch);
        let reply = tokio::select! {
            reply = tokio::time::timeout(timeout, handler) => reply,
            () = self.stopped.cancelled() => return Err(TransportError::Stopped.into()),
        };
        match reply {
            Err(_elapsed) => Err(TransportError::Timeout.into()),
            Ok(Ok(Some(response))) => Ok(response),
            Ok(Ok(None)) => Err(TransportError::NoResponse.into()),
            Ok(Err(join_error)) => {
                tracing::warn!(service = dispatcher.service_name(), error = %join_error,
                    "dispatcher threw: service={}", dispatcher.service_name());
                Err(TransportError::backend("dispatcher threw", join_error).into())
            }
        }
    }

    async fn notify(&self, notification: Notification) -> Result<(), Error> {
        self.ensure_started()?;
        match self.bus.lookup(&notification.service) {
            Some(dispatcher) => {
                tokio::spawn(dispatcher.dispatch(Envelope::Notification(notification)));
            }
            None => tracing::debug!(
                service = %notification.service,
                "notification dropped: nobody serves the service"
            ),
        }
        Ok(())
    }

    async fn stop(&self) {
        self.state.store(STOPPED, Ordering::Release);
        self.stopped.cancel();
    }
}
