//! Server side: registers dispatchers on the bus while started.

use std::sync::Mutex;

use clamator_protocol::{Dispatcher, Error, RpcServerCore, ServerTransport};

use crate::bus::MemoryBus;

/// A clamator server on a [`MemoryBus`].
pub type MemoryRpcServer = RpcServerCore<MemoryServerTransport>;

/// Puts a server's dispatchers on a bus on start and takes them off when intake closes.
/// Lifecycle is the core's: `start` is called once, `stop` once after it.
#[derive(Debug)]
pub struct MemoryServerTransport {
    bus: MemoryBus,
    registered: Mutex<Vec<&'static str>>,
}

impl MemoryServerTransport {
    /// A transport serving on `bus`.
    pub fn new(bus: &MemoryBus) -> Self {
        Self {
            bus: bus.clone(),
            registered: Mutex::new(Vec::new()),
        }
    }

    fn take_registered(&self) -> Vec<&'static str> {
        std::mem::take(
            &mut *self
                .registered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl From<&MemoryBus> for MemoryServerTransport {
    fn from(bus: &MemoryBus) -> Self {
        Self::new(bus)
    }
}

impl ServerTransport for MemoryServerTransport {
    async fn start(&self, dispatchers: Vec<Dispatcher>) -> Result<(), Error> {
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
        *self
            .registered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = registered;
        Ok(())
    }

    async fn close_intake(&self) {
        for service in self.take_registered() {
            self.bus.unregister(service);
        }
    }

    async fn stop(&self) {
        self.close_intake().await;
    }
}
