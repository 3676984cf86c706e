//! Service discovery: what a running server says about itself ([`Instance`]) and what a
//! liveness check answers ([`Liveness`]). Transports publish and read them; the types live here
//! so Redis and the memory bus hand out the same values, and a gateway or a dashboard serializes
//! them without knowing the transport.
//!
//! Serialized in camelCase (`instanceId`, `paramsHash`, …), like the envelope and the manifest.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::RpcClientCore;
use crate::contract::MethodKind;
use crate::error::Error;
use crate::handler::Service;
use crate::transport::ClientTransport;

/// One method a server serves, with the schema hashes of the manifest (spec §8.4) when the
/// service carries them, so two instances of one service can be compared for drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MethodInfo {
    /// Method wire name (without the service).
    pub name: String,
    /// `"request"` or `"notification"`.
    pub kind: String,
    /// Hash of the params schema; `None` when the service was built without hashes (a
    /// hand-built contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_hash: Option<String>,
    /// Hash of the result schema; `None` for notifications and services without hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_hash: Option<String>,
}

impl MethodInfo {
    /// The methods of a service, sorted by name, with the hashes it carries.
    pub fn of_service(service: &Service) -> Vec<MethodInfo> {
        let mut methods: Vec<MethodInfo> = service
            .contract()
            .methods()
            .iter()
            .map(|m| {
                let hashes = service.schema_hashes(m.name());
                MethodInfo {
                    name: m.name().to_owned(),
                    kind: match m.kind() {
                        MethodKind::Request => "request",
                        MethodKind::Notification => "notification",
                    }
                    .to_owned(),
                    params_hash: hashes.map(|h| h.0.to_owned()),
                    result_hash: hashes.and_then(|h| h.1.map(str::to_owned)),
                }
            })
            .collect();
        methods.sort_by(|a, b| a.name.cmp(&b.name));
        methods
    }
}

/// One live server instance of one service: published by the server, read by `discover()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Instance {
    /// The service served.
    pub service: String,
    /// The server's instance id (over Redis the suffix of its consumer name).
    pub instance_id: String,
    /// Host name of the machine the server runs on (empty when unknown).
    pub host: String,
    /// Process id of the server.
    pub pid: u32,
    /// Version of the transport crate the server runs.
    pub version: String,
    /// When the server started, in ms since the Unix epoch.
    pub started_at_ms: i64,
    /// When this record was last refreshed, in ms since the Unix epoch (Redis's clock over
    /// Redis).
    pub heartbeat_at_ms: i64,
    /// How long the record lives without a refresh, in ms.
    pub ttl_ms: u64,
    /// The methods with their schema hashes (the service's manifest).
    pub methods: Vec<MethodInfo>,
    /// Handlers of this service running in this instance at the last refresh.
    pub in_flight: u64,
    /// Entries of this service handled by this instance since it started.
    pub handled: u64,
    /// Of those, how many ended in an error response (including handler timeouts).
    pub errors: u64,
}

impl Instance {
    /// A record with only names set (a transport fills in the rest).
    pub fn new(service: impl Into<String>, instance_id: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            instance_id: instance_id.into(),
            host: String::new(),
            pid: 0,
            version: String::new(),
            started_at_ms: 0,
            heartbeat_at_ms: 0,
            ttl_ms: 0,
            methods: Vec::new(),
            in_flight: 0,
            handled: 0,
            errors: 0,
        }
    }
}

/// The answer of a `ping`: one instance, whether it proved alive, and how fresh its proof is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Liveness {
    /// The service.
    pub service: String,
    /// The instance id.
    pub instance_id: String,
    /// True when the instance's heartbeat is younger than its TTL.
    pub alive: bool,
    /// Age of its last heartbeat in ms when it was read; `None` when its record is gone
    /// (stopped, or expired after a crash).
    pub heartbeat_age_ms: Option<u64>,
    /// The record itself when it is still there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Instance>,
}

/// A client transport that can tell which servers are there. Implemented by the Redis and
/// memory transports; [`RpcClientCore::discover`] and [`RpcClientCore::ping`] call it, so
/// users' code (and their tests on the memory bus) reads the same types either way.
pub trait Discovery: Send + Sync {
    /// The live instances of `service`, or of every service when `None`, sorted by service then
    /// instance id.
    fn discover(
        &self,
        service: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Instance>, Error>> + Send;

    /// Which instances of `service` are alive, answered within `deadline` (else
    /// [`TransportError::Timeout`](crate::TransportError)): live ones and, where the transport
    /// remembers them, recently dead ones with `alive = false`.
    fn ping(
        &self,
        service: &str,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<Liveness>, Error>> + Send;
}

impl<T: ClientTransport + Discovery> RpcClientCore<T> {
    /// The live server instances of `service` (every service when `None`): what they serve,
    /// their schema hashes and load. See the transport's docs for how fresh the answer is.
    pub async fn discover(&self, service: Option<&str>) -> Result<Vec<Instance>, Error> {
        self.transport().discover(service).await
    }

    /// Which instances of `service` are alive, within `deadline`.
    pub async fn ping(&self, service: &str, deadline: Duration) -> Result<Vec<Liveness>, Error> {
        self.transport().ping(service, deadline).await
    }
}

impl Liveness {
    /// An instance that answered (its record is there), with its heartbeat age.
    pub fn alive(instance: Instance, heartbeat_age_ms: u64) -> Self {
        Self {
            service: instance.service.clone(),
            instance_id: instance.instance_id.clone(),
            alive: heartbeat_age_ms <= instance.ttl_ms,
            heartbeat_age_ms: Some(heartbeat_age_ms),
            instance: Some(instance),
        }
    }

    /// An instance that is known but whose record is gone.
    pub fn gone(service: impl Into<String>, instance_id: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            instance_id: instance_id.into(),
            alive: false,
            heartbeat_age_ms: None,
            instance: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Contract, Method, NotificationMethod};

    #[test]
    fn methods_carry_kind_and_hashes_sorted() {
        let add: Method<serde_json::Value, serde_json::Value> = Method::new("arith", "add");
        let ping: NotificationMethod<serde_json::Value> = NotificationMethod::new("arith", "bump");
        let contract = Contract::builder("arith")
            .method(add)
            .notification(ping)
            .build()
            .expect("contract");
        let service = Service::builder(contract)
            .build()
            .expect("service")
            .with_schema_hashes([("add", "p1".to_owned(), Some("r1".to_owned()))]);
        let methods = MethodInfo::of_service(&service);
        assert_eq!(methods.len(), 2);
        assert_eq!(methods[0].name, "add");
        assert_eq!(methods[0].kind, "request");
        assert_eq!(methods[0].params_hash.as_deref(), Some("p1"));
        assert_eq!(methods[0].result_hash.as_deref(), Some("r1"));
        assert_eq!(methods[1].name, "bump");
        assert_eq!(methods[1].kind, "notification");
        assert_eq!(methods[1].params_hash, None);
        let json = serde_json::to_value(&methods[0]).expect("json");
        assert_eq!(json["paramsHash"], "p1");
        assert!(serde_json::to_value(&methods[1])
            .expect("json")
            .get("paramsHash")
            .is_none());
    }
}
