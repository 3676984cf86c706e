//! Servers and clients on a real local Redis Cluster or Sentinel set, and cluster-aware
//! connections for assertions.

use clamator_over_redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};

use super::arith::{self, Probe};

/// A unique key prefix (no hash tag: keys of one prefix spread over the cluster's slots).
pub(crate) fn prefix(name: &str) -> String {
    format!("t-{name}-{}", &uuid::Uuid::new_v4().to_string()[..8])
}

/// A synchronous cluster connection for assertions (routes each command by its key).
pub(crate) fn cluster_conn(seeds: &[String]) -> redis::cluster::ClusterConnection {
    redis::cluster::ClusterClient::new(seeds.to_vec())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Starts an `arith` server on the cluster of `seeds`.
pub(crate) async fn cluster_server(
    seeds: &[String],
    prefix: &str,
    probe: Probe,
    tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
) -> RedisRpcServer {
    let opts = tune(RedisServerOptions::new(prefix).with_cluster_urls(seeds.to_vec()));
    let server = RedisRpcServer::new(opts);
    server.register_service(arith::service(probe)).unwrap();
    server.start().await.unwrap();
    server
}

/// Starts a client on the cluster of `seeds`.
pub(crate) async fn cluster_client(
    seeds: &[String],
    prefix: &str,
    tune: impl FnOnce(RedisClientOptions) -> RedisClientOptions,
) -> RedisRpcClient {
    let opts = tune(RedisClientOptions::new(prefix).with_cluster_urls(seeds.to_vec()));
    let client = RedisRpcClient::new(opts);
    client.start().await.unwrap();
    client
}
