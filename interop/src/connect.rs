//! The connection keys of the drivers' stdin documents (`interop/README.md`): `redisUrl`
//! (`redis://` or `rediss://`), or `redisCluster` (seed node URLs, replacing `redisUrl`), and
//! `tlsCaFile` (a PEM CA to trust). Both Rust drivers read them through here.

use std::path::PathBuf;

use clamator::redis::{ConnectionOptions, TlsOptions};
use serde::Deserialize;

/// Where a driver connects, as its stdin document says.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverRedis {
    /// One Redis.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Seed nodes of a cluster; when present it replaces `redisUrl`.
    #[serde(default)]
    pub redis_cluster: Option<Vec<String>>,
    /// A CA certificate file (PEM) to trust instead of the system roots.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
}

impl DriverRedis {
    /// The transport's connection options for these keys.
    pub fn connection_options(&self) -> Result<ConnectionOptions, String> {
        let mut options = ConnectionOptions::new();
        options = match (&self.redis_cluster, &self.redis_url) {
            (Some(seeds), _) => options.with_cluster_urls(seeds.clone()),
            (None, Some(url)) => options.with_redis_url(url.clone()),
            (None, None) => return Err("the config has neither redisUrl nor redisCluster".into()),
        };
        if let Some(path) = &self.tls_ca_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("tlsCaFile {}: {e}", path.display()))?;
            options = options.with_tls(TlsOptions::new().with_root_ca_pem(pem));
        }
        Ok(options)
    }
}
