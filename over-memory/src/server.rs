//! Server side: registers dispatchers on the bus while started.

use std::sync::Mutex;

use clamator_protocol::{Dispatcher, Error, RpcServerCore, ServerTransport, State, TransportError};

use crate::bus::MemoryBus;

/// A clamator server on a [`MemoryBus`].
pub type MemoryRpcServer = RpcServerCore<MemoryServerTransport>;

/// Puts a server's dispatchers on a bus on start and takes them off when intake closes.
#[derive(Debug)]
pub struct MemoryServerTransport {
    bus: MemoryBus,
    state: Mutex<(State, Vec<&'static str>)>,
}

impl MemoryServerTransport {
    /// A transport serving on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self {
            bus: bus.clone(),
            state: Mutex::new((State::Idle, Vec::new())),
        }
    }

    fn take_registered(&self) -> Vec<&'static str> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut state.1)
    }
}

impl ServerTransport for MemoryServerTransport {
    async fn start(&self, dispatchers: Vec<Dispatcher>) -> Result<(), Error> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.0 {
            State::Started => return Ok(()),
            State::Stopped => return Err(TransportError::HasBeenStopped.into()),
            State::Idle => {}
        }
        let mut registered = Vec::with_capacity(dispatchers.len());
        for dispatcher in dispatchers {
            let name = dispatcher.service_name();
            if let Err(err) = self.bus.register(dispatcher) {
                // Leave nothing half-started.
                registered
                    .iter()
                    .for_each(|s: &&str| self.bus.unregister(s));
                return Err(err);
            }
            registered.push(name);
        }
        *state = (State::Started, registered);
        Ok(())
    }

    async fn close_intake(&self) {
        for service in self.take_registered() {
            self.bus.unregister(service);
        }
    }

    async fn stop(&self) {
        self.close_intake().await;
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = State::Stopped;
    }
}
