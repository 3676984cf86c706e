//! `RpcServerCore`: owns the registered services and the lifecycle; a transport carries the
//! envelopes.

use std::sync::Mutex;
use std::time::Duration;

use crate::dispatcher::{Dispatcher, InFlight};
use crate::envelope::{Envelope, Response};
use crate::error::{Error, RpcError};
use crate::handler::Service;
use crate::state::State;
use crate::transport::ServerTransport;

/// The peers' default drain window for `stop`.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_millis(5_000);

/// Transport-independent server: registration rules, lifecycle idle → started → stopped, and a
/// stop that drains in-flight handlers.
#[derive(Debug)]
pub struct RpcServerCore<T> {
    transport: T,
    services: Mutex<Vec<Service>>,
    state: Mutex<State>,
    lifecycle: tokio::sync::Mutex<()>,
    in_flight: InFlight,
}

impl<T: ServerTransport> RpcServerCore<T> {
    /// A server that will serve through `transport` (or anything that converts into one, such
    /// as a transport's options).
    pub fn new(transport: impl Into<T>) -> Self {
        Self {
            transport: transport.into(),
            services: Mutex::new(Vec::new()),
            state: Mutex::new(State::Idle),
            lifecycle: tokio::sync::Mutex::new(()),
            in_flight: InFlight::default(),
        }
    }

    /// Registers a service. A name registered twice is an error (`service "x" already registered
    /// on this server`). After `start()` it is an error too: the peers silently never serve such a
    /// late service; this crate says so.
    pub fn register_service(&self, service: Service) -> Result<(), Error> {
        if self.state() != State::Idle {
            return Err(Error::Lifecycle(
                "services must be registered before start(): a late service would not be served",
            ));
        }
        let mut services = lock(&self.services);
        if services.iter().any(|s| s.name() == service.name()) {
            return Err(Error::DuplicateService {
                service: service.name().to_owned(),
                scope: "server",
            });
        }
        services.push(service);
        Ok(())
    }

    /// Starts serving every registered service. Idempotent; after `stop()` it fails with
    /// `server has been stopped`.
    pub async fn start(&self) -> Result<(), Error> {
        let _lifecycle = self.lifecycle.lock().await;
        match self.state() {
            State::Started => return Ok(()),
            State::Stopped => return Err(Error::Lifecycle("server has been stopped")),
            State::Idle => {}
        }
        let dispatchers = lock(&self.services)
            .iter()
            .map(|s| Dispatcher::new(s.clone(), self.in_flight.clone()))
            .collect();
        self.transport.start(dispatchers).await?;
        *lock(&self.state) = State::Started;
        Ok(())
    }

    /// Stops taking work, waits up to `grace` for running handlers, then stops the transport.
    /// Idempotent; a never-started server is just marked stopped.
    pub async fn stop(&self, grace: Duration) {
        let _lifecycle = self.lifecycle.lock().await;
        let previous = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        if previous != State::Started {
            return;
        }
        self.transport.close_intake().await;
        if tokio::time::timeout(grace, self.in_flight.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.in_flight.count(),
                "stop grace elapsed with handlers still running"
            );
        }
        self.transport.stop().await;
    }

    /// Routes an envelope by its service name, answering -32601 for a service this core does
    /// not serve. Transports that multiplex services over one channel use it.
    pub async fn dispatch(&self, envelope: Envelope) -> Option<Response> {
        let service = match &envelope {
            Envelope::Request(r) => &r.service,
            Envelope::Notification(n) => &n.service,
            Envelope::Response(_) => return None,
        };
        let found = lock(&self.services)
            .iter()
            .find(|s| s.name() == service)
            .cloned();
        match (found, envelope) {
            (Some(s), envelope) => {
                Dispatcher::new(s, self.in_flight.clone())
                    .dispatch(envelope)
                    .await
            }
            (None, Envelope::Request(r)) => Some(Response {
                id: r.id.into(),
                outcome: Err(RpcError::method_not_found()),
            }),
            (None, _) => None,
        }
    }

    /// Current lifecycle state.
    pub fn state(&self) -> State {
        *lock(&self.state)
    }

    /// Handler executions running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.count()
    }

    /// The transport, e.g. to read its counters.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (a state or a
/// list) is still consistent, so keep going rather than spread the panic.
pub(crate) fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
