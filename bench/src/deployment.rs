//! The Redis a run measures against: one plain server (the default, with the Python peer and
//! the raw floor), one TLS server, a 3-primary cluster (Rust side only; the floor and the
//! peer's client speak to one node), or a primary with one replica and replicated writes on
//! (Rust side only: the peers have no such mode). Within this binary a cluster travels as the
//! "URL" `cluster:<seed>,<seed>,…` and a replicated primary as `replicated:<url>`, so the
//! server subprocesses take them like any other URL.

use std::time::Duration;

use clamator_over_redis::testing::{RedisCluster, RedisProcess, TestPki};
use clamator_over_redis::ConnectionOptions;

/// Which deployment (`--redis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// One plain-TCP `redis-server`.
    Single,
    /// One TLS-only `redis-server` (certificates made for the run; clients skip verification,
    /// which costs nothing in the data path).
    Tls,
    /// 3 primaries + 3 replicas (`--cluster-enabled yes`).
    Cluster,
    /// One primary and one replica, every request waiting for it
    /// (`with_replicated_writes(1, 1 s)`).
    Replicated,
}

/// The running deployment; stopped on drop.
pub(crate) enum Deployment {
    /// One plain server.
    Single(RedisProcess),
    /// One TLS server; the certificates (held, never read again) live as long as it does.
    Tls(RedisProcess, #[allow(dead_code)] TestPki),
    /// A cluster.
    Cluster(RedisCluster),
    /// A primary and its replica (held so it runs as long as the primary).
    Replicated(RedisProcess, #[allow(dead_code)] RedisProcess),
}

const CLUSTER: &str = "cluster:";
const REPLICATED: &str = "replicated:";

/// The replicas each write waits for in a replicated run, and how long one `WAIT` may take.
const REPLICAS: usize = 1;
const WAIT_TIMEOUT: Duration = Duration::from_secs(1);

impl Deployment {
    pub(crate) fn start(kind: Kind) -> Result<Self, String> {
        Ok(match kind {
            Kind::Single => Self::Single(RedisProcess::start().map_err(|e| e.to_string())?),
            Kind::Tls => {
                let pki = TestPki::generate().map_err(|e| e.to_string())?;
                let process = pki.start_redis(false).map_err(|e| e.to_string())?;
                Self::Tls(process, pki)
            }
            Kind::Cluster => {
                let mut cluster = RedisCluster::start().map_err(|e| e.to_string())?;
                if !cluster.wait_healthy(Duration::from_secs(30)) {
                    return Err("the bench cluster did not become healthy in 30 s".into());
                }
                Self::Cluster(cluster)
            }
            Kind::Replicated => {
                let primary = RedisProcess::start().map_err(|e| e.to_string())?;
                let replica = primary.start_replica(None).map_err(|e| e.to_string())?;
                Self::Replicated(primary, replica)
            }
        })
    }

    /// What the clients and server subprocesses are given.
    pub(crate) fn url(&self) -> String {
        match self {
            Self::Single(p) => p.url(),
            // The redis crate's fragment for "TLS without certificate checks".
            Self::Tls(p, _) => format!("{}/#insecure", p.url()),
            Self::Cluster(c) => format!("{CLUSTER}{}", c.seed_urls().join(",")),
            Self::Replicated(p, _) => format!("{REPLICATED}{}", p.url()),
        }
    }

    /// True when only the Rust side can run (no raw floor, no Python peer).
    pub(crate) fn rust_only(&self) -> bool {
        matches!(self, Self::Cluster(_) | Self::Replicated(..))
    }
}

/// The transport's connection options for a [`Deployment::url`].
pub(crate) fn connection(url: &str) -> ConnectionOptions {
    if let Some(seeds) = url.strip_prefix(CLUSTER) {
        return ConnectionOptions::new().with_cluster_urls(seeds.split(','));
    }
    if let Some(primary) = url.strip_prefix(REPLICATED) {
        return ConnectionOptions::new()
            .with_redis_url(primary)
            .with_replicated_writes(REPLICAS, WAIT_TIMEOUT);
    }
    ConnectionOptions::new().with_redis_url(url)
}
