//! Redis Streams transport for clamator, wire-identical to clamator 0.1.9 (Python and
//! TypeScript): same keys, consumer groups, entry fields and defaults, so peers on the same Redis
//! and key prefix interoperate unchanged.
//!
//! * [`RedisRpcServer`] serves registered services from `<prefix>:cmds:<service>` streams with
//!   bounded concurrent handlers, handler timeouts, dead-lettering, crash recovery and
//!   reconnects.
//! * [`RedisRpcClient`] calls them; one client carries thousands of concurrent calls over one
//!   multiplexed connection.
//! * Servers publish their presence per service (heartbeat, TTL: [`PresenceOptions`]);
//!   `client.discover(…)` lists live instances, `client.ping(…)` says which are alive, and dead
//!   servers' consumers are removed once nothing is pending on them.
//!
//! One Redis server, a Redis Cluster ([`ConnectionOptions::with_cluster_urls`],
//! [`ConnectionOptions::with_cluster_client`]) or a Sentinel-watched primary
//! ([`ConnectionOptions::with_sentinel`]): keys keep the peers' names on all three, and on a
//! cluster no command spans two slots (replies are written before their acknowledgement
//! instead of in one transaction).
//!
//! Delivery is at least once: handlers must be idempotent. See the crate README for the key
//! layout, options and what differs from the peers.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod backoff;
mod client;
mod connection;
pub mod keys;
mod metrics;
mod ops;
mod options;
mod presence;
mod replication;
mod server;
mod stats;
mod telemetry;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// The redis crate this transport links, so users name the same version (`Client`, `aio`).
pub use redis;

pub use client::{RedisClientTransport, RedisRpcClient};
pub use keys::{
    command_stream, consumer_group_name, consumer_name, dead_letter_stream, presence_instances,
    presence_record, presence_services, reply_stream, reply_stream_prefix,
};
pub use options::{
    ConnectionOptions, OptionsError, RedisClientOptions, RedisServerOptions, TlsOptions,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_URL,
};
pub use presence::{PresenceOptions, INDEX_RETENTION, MIN_HEARTBEAT};
pub use replication::NotReplicated;
pub use server::{RedisRpcServer, RedisServerTransport};
pub use stats::{ClientStats, ServerStats};

/// Thin pub wrappers around the crate-private stream-reply decoders, for the fuzz targets in
/// `fuzz/` only (feature `fuzzing`). Entries come out as `(id, fields)`, groups as
/// `(name, pending, last_delivered_id)`. Not a public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzzing {
    use crate::ops::reply::{self, Entries};
    use redis::Value;

    pub type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

    fn plain(entries: Entries) -> (Vec<Entry>, Vec<String>) {
        let live = entries.live.into_iter().map(|e| (e.id, e.fields)).collect();
        (live, entries.deleted)
    }

    pub fn read_reply(v: &Value) -> (Vec<Entry>, Vec<String>) {
        plain(reply::read_reply(v))
    }

    pub fn autoclaim_reply(v: &Value) -> (String, Vec<Entry>, Vec<String>) {
        let page = reply::autoclaim_reply(v);
        let (live, deleted) = plain(page.entries);
        (page.next, live, deleted)
    }

    pub fn pending_deliveries(v: &Value) -> Vec<(String, u64)> {
        reply::pending_deliveries(v)
    }

    pub fn pending_min_id(v: &Value) -> Option<String> {
        reply::pending_min_id(v)
    }

    pub fn groups(v: &Value) -> Vec<(String, i64, String)> {
        let groups = reply::groups(v).into_iter();
        groups
            .map(|g| {
                let pending = i64::try_from(g.pending).unwrap_or(i64::MAX);
                (g.name, pending, g.last_delivered_id)
            })
            .collect()
    }

    pub fn parse_id(id: &str) -> Option<(u64, u64)> {
        reply::parse_id(id)
    }
}

/// Error codes this transport puts on the wire, from the band clamator reserves for transports
/// (`-32000..=-32099`; `-32000` itself is left to applications, which commonly use it).
pub mod codes {
    /// The handler ran longer than the server's handler timeout and was abandoned.
    /// Message `handler timeout`, data `{"timeoutMs": <ms>}`.
    pub const HANDLER_TIMEOUT: i64 = -32001;
    /// The entry was delivered more often than the server's limit (its handler never finished)
    /// and was moved to the dead-letter stream. Message `request dead-lettered`, data
    /// `{"deliveries": <n>, "deadLetterStream": "<key>"}`.
    pub const DEAD_LETTERED: i64 = -32002;
}
