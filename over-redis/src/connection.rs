//! Connections: one shared multiplexed connection for ordinary commands (many callers pipeline
//! over it), replaced after a connection failure; and dedicated connections for blocking reads,
//! whose response timeout is longer than their `BLOCK` (the redis crate's 500 ms default would
//! cut every `BLOCK 1000` short).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError};

use crate::options::ConnectionOptions;

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

/// True for the server error codes this crate tolerates or handles (`BUSYGROUP`, `NOGROUP`).
pub(crate) fn has_code(e: &RedisError, code: &str) -> bool {
    e.code() == Some(code) || e.to_string().contains(code)
}

/// A lazily (re)opened multiplexed connection shared by every caller of one transport.
#[derive(Debug)]
pub(crate) struct SharedConnection {
    client: redis::Client,
    connect_timeout: Duration,
    response_timeout: Duration,
    slot: Mutex<Option<(u64, MultiplexedConnection)>>,
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl SharedConnection {
    /// Opens connections from `client` with the timeouts of `opts` (`command_timeout` as the
    /// response timeout).
    pub(crate) fn new(client: redis::Client, opts: &ConnectionOptions) -> Self {
        Self {
            client,
            connect_timeout: opts.connect_timeout(),
            response_timeout: opts.command_timeout(),
            slot: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The live connection, opening one if there is none (one opener at a time).
    pub(crate) async fn get(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_opener = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let conn = open(
            &self.client,
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
        let (generation, mut conn) = self.get().await?;
        let result = cmd.query_async(&mut conn).await;
        if let Err(e) = &result {
            if is_connection_error(e) {
                self.invalidate(generation);
            }
        }
        result
    }

    /// Runs a pipeline; a connection failure replaces the connection for later callers.
    pub(crate) async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, RedisError> {
        let (generation, mut conn) = self.get().await?;
        let result = pipe.query_async(&mut conn).await;
        if let Err(e) = &result {
            if is_connection_error(e) {
                self.invalidate(generation);
            }
        }
        result
    }
}

/// Opens a connection whose commands may take up to `response_timeout` (`None`: no limit).
async fn open(
    client: &redis::Client,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(response_timeout);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// A connection for blocking reads: its response timeout is `block` plus `command_timeout`, so
/// only a dead connection times out.
pub(crate) async fn open_blocking(
    client: &redis::Client,
    opts: &ConnectionOptions,
    block: Duration,
) -> Result<MultiplexedConnection, RedisError> {
    let response_timeout = block + opts.command_timeout();
    open(client, opts.connect_timeout(), Some(response_timeout)).await
}
