//! Connections: one shared connection for ordinary commands (many callers pipeline over it),
//! replaced after a connection failure; and dedicated connections for blocking reads, whose
//! response timeout is longer than their `BLOCK` (the redis crate's 500 ms default would cut
//! every `BLOCK 1000` short).
//!
//! Where connections come from is an [`Endpoint`]: one server, a cluster (each command routed
//! to the node owning its key's slot, MOVED/ASK followed by the redis crate), or a master found
//! through Sentinel (resolved again at every connect, so a failed-over master is never dialled
//! twice).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::sentinel::SentinelClient;
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, Value,
};

use crate::options::ConnectionOptions;

/// Where a transport's connections are opened.
// One per started transport, cloned only when a connection is opened: size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// One Redis server.
    Single(redis::Client),
    /// A Redis Cluster (seed nodes or an injected client).
    Cluster(ClusterClient),
    /// The master of a Sentinel-watched set, looked up at every connect.
    Sentinel(Arc<tokio::sync::Mutex<SentinelClient>>),
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(c) => f.debug_tuple("Single").field(c).finish(),
            Self::Cluster(_) => f.write_str("Cluster"),
            Self::Sentinel(_) => f.write_str("Sentinel"),
        }
    }
}

impl Endpoint {
    /// True when keys live on different nodes: no command or transaction may span two slots.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

/// A connection of any [`Endpoint`]: cheap to clone (a handle to a multiplexed connection or
/// to a cluster connection's router).
#[derive(Clone)]
pub(crate) enum AnyConnection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "AnyConnection::Single",
            Self::Cluster(_) => "AnyConnection::Cluster",
        })
    }
}

impl AnyConnection {
    /// True for a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs `cmd` on the primary owning `key`'s slot, for commands that name no key but are
    /// about one (`CLIENT ID` of the connection that will block on `key`); on one server, the
    /// same as a plain query.
    pub(crate) async fn query_at<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        key: &str,
    ) -> Result<T, RedisError> {
        match self {
            Self::Single(c) => cmd.query_async(c).await,
            Self::Cluster(c) => {
                let route = Route::with_slot(Slot::for_key(key), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                let v = c.route_command(cmd.clone(), routing).await?;
                T::from_redis_value(v).map_err(RedisError::from)
            }
        }
    }
}

impl ConnectionLike for AnyConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// True when the connection itself failed (I/O, timeout, protocol), so it must be replaced;
/// false for a server's reply error such as `BUSYGROUP` or `WRONGTYPE`.
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    !matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// Server error codes that say "not now" rather than "never": Redis is loading its dataset,
/// running a script, failing over, paused for writes, out of memory, or a cluster slot is
/// moving. A write refused with one of these is retried; any other server error is final.
const TRANSIENT_CODES: &[&str] = &[
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "READONLY",
    "CLUSTERDOWN",
    "OOM",
    "MISCONF",
    "NOREPLICAS",
];

/// True when the same command may succeed later: a connection failure, or server errors that
/// all carry one of [`TRANSIENT_CODES`] (for a pipeline or an aborted transaction, every
/// failed command's error is looked at).
pub(crate) fn is_transient(e: &RedisError) -> bool {
    if is_connection_error(e) {
        return true;
    }
    match e.clone().into_server_errors() {
        Some(errors) if !errors.is_empty() => errors
            .iter()
            .all(|(_, err)| TRANSIENT_CODES.contains(&err.code())),
        _ => false,
    }
}

/// True when the connection must be replaced before the next command: it failed, or the
/// server it reaches is a replica now (`READONLY`: a failover demoted it; a new connection
/// finds the new primary, through Sentinel or the cluster's slot map).
pub(crate) fn must_reconnect(e: &RedisError) -> bool {
    is_connection_error(e) || has_code(e, "READONLY")
}

/// True for the server error codes this crate tolerates or handles (`BUSYGROUP`, `NOGROUP`).
pub(crate) fn has_code(e: &RedisError, code: &str) -> bool {
    e.code() == Some(code) || e.to_string().contains(code)
}

/// A lazily (re)opened connection shared by every caller of one transport.
#[derive(Debug)]
pub(crate) struct SharedConnection {
    endpoint: Endpoint,
    connect_timeout: Duration,
    response_timeout: Duration,
    slot: Mutex<Option<(u64, AnyConnection)>>,
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl SharedConnection {
    /// Opens connections to `endpoint` with the timeouts of `opts` (`command_timeout` as the
    /// response timeout).
    pub(crate) fn new(endpoint: Endpoint, opts: &ConnectionOptions) -> Self {
        Self {
            endpoint,
            connect_timeout: opts.connect_timeout(),
            response_timeout: opts.command_timeout(),
            slot: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// True when connected to a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.endpoint.is_cluster()
    }

    fn current(&self) -> Option<(u64, AnyConnection)> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The live connection, opening one if there is none (one opener at a time).
    pub(crate) async fn get(&self) -> Result<(u64, AnyConnection), RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_opener = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = open(
            &self.endpoint,
            self.connect_timeout,
            Some(self.response_timeout),
        )
        .await?;
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        if generation > 1 {
            crate::metrics::reconnect(crate::metrics::Conn::Shared);
        }
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Forgets the connection of `generation` (if still current) so the next caller reconnects.
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }

    /// Drops the connection (its driver task ends once the last clone is gone).
    pub(crate) fn close(&self) {
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Runs one command; a connection failure replaces the connection for later callers.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        self.query_generation(cmd).await.map(|(_, v)| v)
    }

    /// Runs one command on the primary owning `key` (see [`AnyConnection::query_at`]).
    pub(crate) async fn query_at<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        key: &str,
    ) -> Result<T, RedisError> {
        self.query_at_generation(cmd, key).await.map(|(_, v)| v)
    }

    /// [`query_at`](Self::query_at), also saying which connection (generation) it ran on:
    /// a `WAIT` confirms only the writes made over the same connection.
    pub(crate) async fn query_at_generation<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        key: &str,
    ) -> Result<(u64, T), RedisError> {
        let (generation, mut conn) = self.get().await?;
        let result = conn.query_at(cmd, key).await;
        self.judge(generation, &result);
        result.map(|v| (generation, v))
    }

    /// [`query`](Self::query), also saying which connection (generation) it ran on.
    pub(crate) async fn query_generation<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Result<(u64, T), RedisError> {
        let (generation, mut conn) = self.get().await?;
        let result = cmd.query_async(&mut conn).await;
        self.judge(generation, &result);
        result.map(|v| (generation, v))
    }

    /// Replaces the connection of `generation` after an error that calls for it.
    fn judge<T>(&self, generation: u64, result: &Result<T, RedisError>) {
        if let Err(e) = result {
            if must_reconnect(e) {
                self.invalidate(generation);
            }
        }
    }

    /// Runs a pipeline; a connection failure replaces the connection for later callers.
    pub(crate) async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, RedisError> {
        let (generation, mut conn) = self.get().await?;
        let result = pipe.query_async(&mut conn).await;
        self.judge(generation, &result);
        result
    }
}

/// Opens a connection whose commands may take up to `response_timeout` (`None`: no limit).
/// A cluster connection has its own connection to every node; a Sentinel endpoint asks the
/// sentinels for the master first (the redis crate checks that it answers as master).
async fn open(
    endpoint: &Endpoint,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
) -> Result<AnyConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(response_timeout);
    match endpoint {
        Endpoint::Single(client) => client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map(AnyConnection::Single),
        Endpoint::Cluster(client) => {
            let mut cluster_config = ClusterConfig::new().set_connection_timeout(connect_timeout);
            if let Some(t) = response_timeout {
                cluster_config = cluster_config.set_response_timeout(t);
            }
            client
                .get_async_connection_with_config(cluster_config)
                .await
                .map(AnyConnection::Cluster)
        }
        Endpoint::Sentinel(sentinel) => {
            let master = async { sentinel.lock().await.async_get_client().await };
            // Each sentinel and the master are dialled in turn: bound the whole look-up.
            let limit = connect_timeout.saturating_mul(4);
            let client = tokio::time::timeout(limit, master).await.map_err(|_| {
                RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no sentinel named a reachable master in time",
                ))
            })??;
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map(AnyConnection::Single)
        }
    }
}

/// A connection for blocking reads: its response timeout is `block` plus `command_timeout`, so
/// only a dead connection times out. On a cluster it is a cluster connection of its own, so a
/// blocked read never holds up the shared one's node connections.
pub(crate) async fn open_blocking(
    endpoint: &Endpoint,
    opts: &ConnectionOptions,
    block: Duration,
) -> Result<AnyConnection, RedisError> {
    let response_timeout = block + opts.command_timeout();
    open(endpoint, opts.connect_timeout(), Some(response_timeout)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(resp: &[u8]) -> RedisError {
        match redis::parse_redis_value(resp) {
            Ok(Value::ServerError(e)) => RedisError::from(e),
            other => panic!("not a server error: {other:?}"),
        }
    }

    #[test]
    fn a_replica_refusing_a_write_means_reconnect_other_refusals_do_not() {
        let readonly = server_error(b"-READONLY You can't write against a read only replica.\r\n");
        assert!(must_reconnect(&readonly));
        assert!(is_transient(&readonly));
        let wrongtype = server_error(b"-WRONGTYPE Operation against a key\r\n");
        assert!(!must_reconnect(&wrongtype));
        let busygroup = server_error(b"-BUSYGROUP Consumer Group name already exists\r\n");
        assert!(!must_reconnect(&busygroup));
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(must_reconnect(&io));
    }
}
