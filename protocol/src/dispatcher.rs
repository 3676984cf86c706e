//! The per-service dispatcher: envelope in, optional response out, in clamator's order
//! (spec §2.2): method entry → params validation → handler lookup → handler → result
//! validation → response. Notifications never produce a response.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

use crate::contract::{MethodDef, MethodKind};
use crate::envelope::{Envelope, Id, Response};
use crate::error::RpcError;
use crate::handler::{HandlerOutcome, Service};

/// Counts handler executions so a server can drain them on stop.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<InFlightInner>,
}

#[derive(Debug, Default)]
struct InFlightInner {
    count: AtomicUsize,
    idle: Notify,
}

/// Marks one handler execution; dropping it (even on cancellation) ends the execution.
#[derive(Debug)]
pub struct InFlightGuard {
    inner: Arc<InFlightInner>,
}

impl InFlight {
    /// Starts counting one execution.
    pub fn enter(&self) -> InFlightGuard {
        self.inner.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard {
            inner: self.inner.clone(),
        }
    }

    /// Executions currently running.
    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::Acquire)
    }

    /// Resolves once no execution is running.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.inner.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// Routes envelopes of one service to its handlers. Cheap to clone; hand one per service to a
/// transport.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// One allocation shared by clones, so the `'static` dispatch future costs one refcount.
    inner: Arc<DispatcherInner>,
}

#[derive(Debug)]
struct DispatcherInner {
    service: Service,
    in_flight: InFlight,
}

impl Dispatcher {
    /// A dispatcher whose handler executions are counted in `in_flight`.
    pub fn new(service: Service, in_flight: InFlight) -> Self {
        Self {
            inner: Arc::new(DispatcherInner { service, in_flight }),
        }
    }

    /// The service this dispatcher routes to (its contract and schema hashes, for presence).
    pub fn service(&self) -> &Service {
        &self.inner.service
    }

    /// The service this dispatcher serves (its stream over Redis).
    pub fn service_name(&self) -> &'static str {
        self.inner.service.name()
    }

    /// The contract's own spelling of `method` (a `'static` name), `None` when the contract
    /// lacks it: a bounded label for metrics, whatever names callers send.
    pub fn method_label(&self, method: &str) -> Option<&'static str> {
        self.inner
            .service
            .contract
            .method(method)
            .map(MethodDef::name)
    }

    /// Handles one envelope. Only the method part of `method` is used: the dispatcher serves
    /// the service it was created for, as the peers do. The future is `'static` so transports
    /// can spawn it.
    pub fn dispatch(
        &self,
        envelope: Envelope,
    ) -> impl Future<Output = Option<Response>> + Send + 'static {
        let this = self.clone();
        async move {
            let (id, method, params) = match envelope {
                Envelope::Request(r) => (Some(r.id), r.method, r.params),
                Envelope::Notification(n) => (None, n.method, n.params),
                Envelope::Response(_) => return None,
            };
            this.run(id, &method, params).await
        }
    }

    async fn run(&self, id: Option<Id>, method: &str, params: Value) -> Option<Response> {
        let DispatcherInner { service, in_flight } = &*self.inner;
        let (service, contract) = (service.name(), &service.contract);
        let handlers = &self.inner.service.handlers;
        let Some(def) = contract.method(method) else {
            return id.map(|id| respond(id, Err(RpcError::method_not_found())));
        };
        // A request aimed at a notification is handled as one: never answered.
        let id = id.filter(|_| def.kind() == MethodKind::Request);
        let rpc_id = id.as_ref().map_or_else(|| "None".into(), Id::key);
        let Some(handler) = handlers.get(def.name()) else {
            let outcome = match def.check_params(&params) {
                Err(data) => {
                    tracing::warn!(service, method, rpc_id = %rpc_id,
                        "RPC params validation failed: {service}.{method} id={rpc_id}");
                    Err(RpcError::invalid_params(data))
                }
                Ok(()) => Err(RpcError::method_not_found()),
            };
            return id.map(|id| respond(id, outcome));
        };
        let outcome = {
            let _guard = in_flight.enter();
            handler(&params).await
        };
        let outcome = match outcome {
            HandlerOutcome::Success(value) => Ok(value),
            HandlerOutcome::InvalidParams(data) => {
                tracing::warn!(service, method, rpc_id = %rpc_id,
                    "RPC params validation failed: {service}.{method} id={rpc_id}");
                Err(RpcError::invalid_params(data))
            }
            HandlerOutcome::Failed(error, logged) => {
                if let Some(error) = logged {
                    tracing::error!(service, method, rpc_id = %rpc_id, %error,
                        "RPC handler raised: {service}.{method} id={rpc_id}");
                }
                Err(error)
            }
            HandlerOutcome::ResultInvalid(data) => {
                tracing::error!(service, method, rpc_id = %rpc_id, errors = %data["errors"],
                    "RPC result validation failed: {service}.{method} id={rpc_id}");
                Err(RpcError::result_validation_failed(data))
            }
        };
        id.map(|id| respond(id, outcome))
    }
}

fn respond(id: Id, outcome: Result<Value, RpcError>) -> Response {
    Response {
        id: id.into(),
        outcome,
    }
}

#[cfg(test)]
#[path = "dispatcher_tests.rs"]
mod tests;
