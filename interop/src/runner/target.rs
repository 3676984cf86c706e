//! Where a run's drivers connect: one Redis (plain or TLS) or a Redis Cluster. A target gives
//! the connection keys of the drivers' stdin documents (`redisUrl` or `redisCluster`, and
//! `tlsCaFile`; see `interop/README.md`) and the runner's own connection, which it uses to watch
//! consumer groups and to delete a run's keys.

use std::path::PathBuf;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use serde_json::{json, Map};

/// One deployment the suite runs against.
#[derive(Debug, Clone)]
pub struct Target {
    kind: Kind,
    tls_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
enum Kind {
    Single(String),
    Cluster(Vec<String>),
}

impl Target {
    /// One Redis at `url` (`redis://` or `rediss://`).
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            kind: Kind::Single(url.into()),
            tls_ca_file: None,
        }
    }

    /// A cluster reached through these seed node URLs.
    pub fn cluster(seeds: Vec<String>) -> Self {
        Self {
            kind: Kind::Cluster(seeds),
            tls_ca_file: None,
        }
    }

    /// Trusts the CA in this PEM file (a TLS Redis with a private CA).
    #[must_use]
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// `single`, `tls` or `cluster`, for run labels.
    pub fn label(&self) -> &'static str {
        match (&self.kind, &self.tls_ca_file) {
            (Kind::Cluster(_), _) => "cluster",
            (Kind::Single(_), Some(_)) => "tls",
            (Kind::Single(_), None) => "single",
        }
    }

    /// The connection keys of a driver's stdin document.
    pub fn driver_fields(&self) -> Map<String, serde_json::Value> {
        let mut fields = Map::new();
        match &self.kind {
            Kind::Single(url) => fields.insert("redisUrl".into(), json!(url)),
            Kind::Cluster(seeds) => fields.insert("redisCluster".into(), json!(seeds)),
        };
        if let Some(ca) = &self.tls_ca_file {
            fields.insert("tlsCaFile".into(), json!(ca.display().to_string()));
        }
        fields
    }

    /// The runner's own connection to the target.
    pub async fn connect(&self) -> Result<Inspect, String> {
        let root_cert = match &self.tls_ca_file {
            Some(path) => {
                Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
            }
            None => None,
        };
        match &self.kind {
            Kind::Single(url) => {
                let client = match root_cert {
                    Some(pem) => redis::Client::build_with_tls(
                        url.as_str(),
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(pem),
                        },
                    ),
                    None => redis::Client::open(url.as_str()),
                }
                .map_err(|e| e.to_string())?;
                let con = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Inspect::Single(con))
            }
            Kind::Cluster(seeds) => {
                let mut builder = redis::cluster::ClusterClientBuilder::new(seeds.clone());
                if let Some(pem) = root_cert {
                    builder = builder.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    });
                }
                let client = builder.build().map_err(|e| e.to_string())?;
                let con = client
                    .get_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Inspect::Cluster(con))
            }
        }
    }
}

/// The runner's connection: to the one Redis, or to the cluster (each command routed to the
/// node owning its key).
#[derive(Clone)]
pub enum Inspect {
    /// One Redis.
    Single(MultiplexedConnection),
    /// A cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Inspect {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
