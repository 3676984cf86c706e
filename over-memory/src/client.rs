//! Client side: looks the service up on the bus and runs its dispatcher as a task.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use clamator_protocol::{
    ClientTransport, Envelope, Error, Notification, Replies, Request, Response, RpcClientCore,
    TransportError,
};

use clamator_protocol::telemetry;
use tracing::Instrument;

use crate::bus::MemoryBus;

/// A clamator client on a [`MemoryBus`].
pub type MemoryRpcClient = RpcClientCore<MemoryClientTransport>;

/// Hands envelopes to the bus's dispatchers. A handler that completes on its first poll runs
/// inline; one that waits continues in its own task, so a caller that times out does not cancel
/// the server's work (as with a remote server). Lifecycle, timeout and stop are the core's.
#[derive(Debug)]
pub struct MemoryClientTransport {
    bus: MemoryBus,
}

impl MemoryClientTransport {
    /// A transport calling services on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self { bus: bus.clone() }
    }

    pub(crate) fn bus(&self) -> &MemoryBus {
        &self.bus
    }
}

impl From<&MemoryBus> for MemoryClientTransport {
    fn from(bus: &MemoryBus) -> Self {
        Self::new(bus)
    }
}

impl ClientTransport for MemoryClientTransport {
    fn answers_inline(&self) -> bool {
        true
    }

    async fn start(&self, _replies: Replies) -> Result<(), Error> {
        Ok(())
    }

    async fn send(&self, request: Request, _timeout: Duration) -> Result<Option<Response>, Error> {
        // Nobody serves the service: fail at once, as the Redis transport does (a stand-in in
        // tests must behave like production; an HTTP gateway maps it to 503, not 400).
        let Some(dispatcher) = self.bus.lookup(&request.service) else {
            return Err(TransportError::NoServer {
                service: request.service.into_owned(),
            }
            .into());
        };
        // Most handlers finish without waiting: run the first poll inline and spawn only what
        // is still pending. Once spawned, a caller that times out cannot cancel the work (as
        // with a remote server).
        // The trace context travels beside the envelope (never inside it), as over Redis.
        let span = crate::telemetry::server_span(&request);
        let envelope = Envelope::Request(request);
        #[cfg(feature = "metrics")]
        let measured = clamator_protocol::metrics::ServerRequest::start(&dispatcher, &envelope);
        let running = self.bus.running(dispatcher.service_name());
        let mut dispatch = Box::pin(dispatcher.dispatch(envelope).instrument(span.clone()));
        // Counted where the handler ends, even when the caller stopped waiting.
        let done = move |response: Option<&Response>| {
            telemetry::record_server_outcome(&span, response);
            if let Some(running) = running {
                running.finish(response);
            }
            #[cfg(feature = "metrics")]
            measured.finish(response);
        };
        let first = std::future::poll_fn(|cx| Poll::Ready(dispatch.as_mut().poll(cx))).await;
        if let Poll::Ready(response) = first {
            done(response.as_ref());
            return response
                .map(Some)
                .ok_or_else(|| TransportError::NoResponse.into());
        }
        let handled = tokio::spawn(async move {
            let response = dispatch.await;
            done(response.as_ref());
            response
        });
        match handled.await {
            Ok(Some(response)) => Ok(Some(response)),
            Ok(None) => Err(TransportError::NoResponse.into()),
            Err(join_error) => {
                tracing::warn!(service = dispatcher.service_name(), error = %join_error,
                    "dispatcher threw: service={}", dispatcher.service_name());
                Err(TransportError::backend("dispatcher threw", join_error).into())
            }
        }
    }

    async fn notify(&self, notification: Notification) -> Result<(), Error> {
        match self.bus.lookup(&notification.service) {
            Some(dispatcher) => {
                let span = crate::telemetry::notification_span(&notification);
                let envelope = Envelope::Notification(notification);
                #[cfg(feature = "metrics")]
                let measured =
                    clamator_protocol::metrics::ServerRequest::start(&dispatcher, &envelope);
                let running = self.bus.running(dispatcher.service_name());
                let dispatch = dispatcher.dispatch(envelope).instrument(span);
                tokio::spawn(async move {
                    let response = dispatch.await;
                    if let Some(running) = running {
                        running.finish(response.as_ref());
                    }
                    #[cfg(feature = "metrics")]
                    measured.finish(response.as_ref());
                });
            }
            None => tracing::debug!(
                service = %notification.service,
                "notification dropped: nobody serves the service"
            ),
        }
        Ok(())
    }

    async fn stop(&self) {}
}
