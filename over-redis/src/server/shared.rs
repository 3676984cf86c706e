//! What every loop of one started server shares: its options, its Redis connections and
//! counters, and the offset of Redis's clock (the clock of entry ids) from ours.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::connection::{Endpoint, SharedConnection};
use crate::ops;
use crate::options::RedisServerOptions;
use crate::replication::{self, Gates, ReplicatedError};
use crate::stats::ServerCounters;

/// What every loop of one server shares.
#[derive(Debug)]
pub(crate) struct ServerShared {
    pub(crate) opts: RedisServerOptions,
    /// Where the dedicated (blocking) connections are opened from.
    pub(crate) endpoint: Endpoint,
    /// The connection of every non-blocking command.
    pub(crate) conn: SharedConnection,
    pub(crate) stats: Arc<ServerCounters>,
    /// How replies are written (from the options, computed once).
    pub(crate) reply_caps: ops::ReplyCaps,
    /// With replicated writes: where consumer-group writes wait for their replicas.
    pub(crate) gates: Option<Gates>,
    /// Redis clock minus local clock, in ms: entry ids carry Redis time.
    clock_offset_ms: AtomicI64,
}

impl ServerShared {
    pub(crate) fn new(
        opts: RedisServerOptions,
        endpoint: Endpoint,
        stats: Arc<ServerCounters>,
    ) -> Self {
        let cluster = endpoint.is_cluster();
        Self {
            conn: SharedConnection::new(endpoint.clone(), opts.connection()),
            endpoint,
            reply_caps: ops::ReplyCaps {
                max_len: opts.reply_stream_max_len(),
                ttl_ms: opts.reply_stream_ttl().map(ops::millis),
                // One server replicates a reply with its acknowledgement; only a cluster, where
                // they live on different nodes, waits between the two.
                replicas: opts.connection().replicas().filter(|_| cluster),
            },
            gates: opts.connection().replicas().map(|r| Gates::new(r, cluster)),
            opts,
            stats,
            clock_offset_ms: AtomicI64::new(0),
        }
    }

    /// Creates the consumer group of `keys` (from `start_id`); with replicated writes, waits
    /// (until `give_up`) for its replicas, so a failover cannot promote a replica without it
    /// (clients would see "no server" until the server noticed).
    pub(crate) async fn create_group(
        &self,
        keys: &ops::GroupKeys,
        start_id: &str,
        give_up: Instant,
    ) -> Result<(), ReplicatedError<redis::RedisError>> {
        let create = || async {
            ops::create_group(&self.conn, keys, start_id)
                .await
                .map(|generation| (generation, ()))
        };
        match &self.gates {
            None => create().await.map(drop).map_err(ReplicatedError::Write),
            Some(gates) => {
                replication::write_replicated(&self.conn, gates, &keys.stream, give_up, create)
                    .await
            }
        }
    }

    /// Now, on Redis's clock (the clock of entry ids), in ms since the epoch.
    pub(crate) fn redis_now_ms(&self) -> i64 {
        local_now_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the offset between Redis's clock and ours with `TIME`.
    pub(crate) async fn sync_clock(&self) -> Result<(), redis::RedisError> {
        let before = local_now_ms();
        let redis_ms = ops::time_ms(&self.conn).await?;
        let after = local_now_ms();
        self.clock_offset_ms
            .store(redis_ms - (before + after) / 2, Ordering::Relaxed);
        Ok(())
    }
}

fn local_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
