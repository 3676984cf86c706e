//! Redis Streams transport for clamator, wire-identical to clamator 0.1.9 (Python and
//! TypeScript): same keys, consumer groups, entry fields and defaults, so peers on the same Redis
//! and key prefix interoperate unchanged.
//!
//! * [`RedisRpcServer`] serves registered services from `<prefix>:cmds:<service>` streams with
//!   bounded concurrent handlers, handler timeouts, dead-lettering, crash recovery and
//!   reconnects.
//! * [`RedisRpcClient`] calls them; one client carries thousands of concurrent calls over one
//!   multiplexed connection.
//!
//! Delivery is at least once: handlers must be idempotent. See the crate README for the key
//! layout, options and what differs from the peers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod client;
mod connection;
mod entry;
pub mod keys;
mod options;
mod server;
mod stats;

pub use client::{RedisClientTransport, RedisRpcClient};
pub use keys::{
    command_stream, consumer_group_name, consumer_name, dead_letter_stream, reply_stream,
    reply_stream_prefix,
};
pub use options::{RedisClientOptions, RedisServerOptions, DEFAULT_MAX_IN_FLIGHT, DEFAULT_URL};
pub use server::{RedisRpcServer, RedisServerTransport};
pub use stats::{ClientStats, ServerStats};

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
