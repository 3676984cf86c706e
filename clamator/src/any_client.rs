//! [`AnyClient`]: one cloneable client type for every transport.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::typed::AsClientCore;
use crate::{
    ClientTransport, Discovery, DynClientTransport, Error, Instance, Liveness, RpcClientCore,
    TransportError,
};

/// A client of any transport behind one cloneable type, so "memory in tests, Redis in
/// production" code needs no generic parameter: build it from any transport's client with
/// [`AnyClient::new`] or `.into()`, clone it freely (clones share one client), hand it to a
/// generated `<Trait>Client`. It derefs to the client core, so `start`, `call`, `call_raw`,
/// `stop` and the rest are the core's; `transport().downcast_ref::<T>()` reaches the transport
/// inside (e.g. a Redis client's counters). One boxed future per call is the whole cost.
///
/// ```
/// # async fn demo() -> Result<(), clamator::Error> {
/// use clamator::AnyClient;
/// let bus = clamator::memory::MemoryBus::new();
/// let client: AnyClient = bus.client().into();
/// client.start().await?;
/// let shared = client.clone(); // the same client
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AnyClient(Arc<RpcClientCore<DynClientTransport>>);

impl AnyClient {
    /// Erases `client`'s transport; its state, default timeout and waiting calls carry over.
    pub fn new<T: ClientTransport>(client: RpcClientCore<T>) -> Self {
        Self(Arc::new(client.erase()))
    }

    /// `discover()` of the transport inside (Redis or memory), so a gateway or a health check
    /// holding an `AnyClient` lists live servers without naming the transport. A transport
    /// without discovery answers a [`TransportError::Config`] error saying so.
    pub async fn discover(&self, service: Option<&str>) -> Result<Vec<Instance>, Error> {
        let transport = self.0.transport();
        #[cfg(feature = "redis")]
        if let Some(t) = transport.downcast_ref::<clamator_over_redis::RedisClientTransport>() {
            return t.discover(service).await;
        }
        #[cfg(feature = "memory")]
        if let Some(t) = transport.downcast_ref::<clamator_over_memory::MemoryClientTransport>() {
            return t.discover(service).await;
        }
        let _ = (transport, service);
        Err(no_discovery())
    }

    /// `ping()` of the transport inside, as [`discover`](Self::discover).
    pub async fn ping(&self, service: &str, deadline: Duration) -> Result<Vec<Liveness>, Error> {
        let transport = self.0.transport();
        #[cfg(feature = "redis")]
        if let Some(t) = transport.downcast_ref::<clamator_over_redis::RedisClientTransport>() {
            return t.ping(service, deadline).await;
        }
        #[cfg(feature = "memory")]
        if let Some(t) = transport.downcast_ref::<clamator_over_memory::MemoryClientTransport>() {
            return t.ping(service, deadline).await;
        }
        let _ = (transport, service, deadline);
        Err(no_discovery())
    }
}

fn no_discovery() -> Error {
    TransportError::Config("this client's transport has no discovery".into()).into()
}

impl<T: ClientTransport> From<RpcClientCore<T>> for AnyClient {
    fn from(client: RpcClientCore<T>) -> Self {
        Self::new(client)
    }
}

impl Deref for AnyClient {
    type Target = RpcClientCore<DynClientTransport>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl AsClientCore for AnyClient {
    type Transport = DynClientTransport;

    fn client_core(&self) -> &RpcClientCore<DynClientTransport> {
        &self.0
    }
}
