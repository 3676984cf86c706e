//! The registry that connects servers and clients in one process.

use std::sync::Arc;

use crate::discovery::{now_ms, Registration, Running};

use clamator_protocol::{Dispatcher, Error};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::client::{MemoryClientTransport, MemoryRpcClient};
use crate::server::{MemoryRpcServer, MemoryServerTransport};

/// Service name → dispatcher. Cheap to clone; clones share the registry. Independent buses do
/// not see each other's services.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    services: Arc<DashMap<&'static str, Dispatcher>>,
    /// What `discover()` reports of each registered service's server.
    registrations: Arc<DashMap<&'static str, Arc<Registration>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A server on this bus (register services, then start it).
    pub fn server(&self) -> MemoryRpcServer {
        MemoryRpcServer::new(MemoryServerTransport::new(self))
    }

    /// A client on this bus (start it, then call).
    pub fn client(&self) -> MemoryRpcClient {
        MemoryRpcClient::new(MemoryClientTransport::new(self))
    }

    /// Serves `dispatcher`'s service on this bus. One server per service: a second registration
    /// fails with `service "<name>" already registered on this bus`.
    pub fn register(&self, dispatcher: Dispatcher) -> Result<(), Error> {
        match self.services.entry(dispatcher.service_name()) {
            Entry::Occupied(_) => Err(Error::DuplicateService {
                service: dispatcher.service_name().to_owned(),
                scope: "bus",
            }),
            Entry::Vacant(slot) => {
                let registration = Registration::new(&dispatcher, now_ms());
                self.registrations
                    .insert(dispatcher.service_name(), Arc::new(registration));
                slot.insert(dispatcher);
                Ok(())
            }
        }
    }

    /// Stops serving `service`; later calls get `Method not found`.
    pub fn unregister(&self, service: &str) {
        self.services.remove(service);
        self.registrations.remove(service);
    }

    /// The registrations of `service` (every service when `None`).
    pub(crate) fn registrations(&self, service: Option<&str>) -> Vec<Arc<Registration>> {
        match service {
            Some(s) => self
                .registrations
                .get(s)
                .map(|r| vec![r.value().clone()])
                .unwrap_or_default(),
            None => self
                .registrations
                .iter()
                .map(|r| r.value().clone())
                .collect(),
        }
    }

    /// Starts counting one envelope for `discover()`'s `inFlight` / `handled` / `errors`.
    pub(crate) fn running(&self, service: &str) -> Option<Running> {
        let registration = self.registrations.get(service)?.value().clone();
        Some(Running::start(registration))
    }

    /// The dispatcher serving `service`, if any.
    pub fn lookup(&self, service: &str) -> Option<Dispatcher> {
        self.services.get(service).map(|d| d.value().clone())
    }
}
