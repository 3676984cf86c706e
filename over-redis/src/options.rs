//! Options for servers and clients, with the peers' defaults where they have one (spec §6.3).

use std::time::Duration;

use clamator_protocol::{Error, TransportError};
use tokio::sync::Semaphore;

/// Where a transport gets its Redis connections from.
///
/// Exactly one of an injected client or a URL may be given (as the peers require); with
/// neither, `REDIS_URL` is read, else `redis://localhost:6379`.
pub(crate) fn resolve_client(
    client: Option<&redis::Client>,
    url: Option<&str>,
) -> Result<redis::Client, Error> {
    match (client, url) {
        (Some(_), Some(_)) => Err(TransportError::Config(
            "provide either `redis` or `redis_url`, not both".to_owned(),
        )
        .into()),
        (Some(c), None) => Ok(c.clone()),
        (None, Some(u)) => open(u),
        (None, None) => {
            let url = std::env::var("REDIS_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_URL.to_owned());
            open(&url)
        }
    }
}

fn open(url: &str) -> Result<redis::Client, Error> {
    redis::Client::open(url)
        .map_err(|e| TransportError::backend(format!("invalid redis url \"{url}\""), e).into())
}

/// Default [`RedisClientOptions::max_in_flight`]: below the peers' reply stream cap of 1 024,
/// with room for late and duplicate replies.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

/// Used when no client, URL or `REDIS_URL` is given (the peers' default).
pub const DEFAULT_URL: &str = "redis://localhost:6379";

fn new_instance_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The setters both option types share: where connections come from, the instance id, and
/// the timeouts of blocking and non-blocking commands.
macro_rules! common_setters {
    () => {
        /// Uses this client's connection settings (exclusive with a URL).
        #[must_use]
        pub fn with_redis(mut self, client: redis::Client) -> Self {
            self.redis = Some(client);
            self
        }

        /// Connects to this URL (exclusive with an injected client).
        #[must_use]
        pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
            self.redis_url = Some(url.into());
            self
        }

        /// Sets the instance id (the consumer name or reply stream suffix).
        #[must_use]
        pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
            self.instance_id = id.into();
            self
        }

        /// Sets `BLOCK` of the blocking reads (at least 1 ms).
        #[must_use]
        pub fn with_block(mut self, block: Duration) -> Self {
            self.block = block.max(Duration::from_millis(1));
            self
        }

        /// Sets the response timeout of non-blocking commands.
        #[must_use]
        pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
            self.command_timeout = timeout;
            self
        }
    };
}

/// Server options. Build with [`RedisServerOptions::new`] and the `with_*` methods; fields are
/// public to read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisServerOptions {
    /// Prefix of every key (used literally, any string).
    pub key_prefix: String,
    /// Injected client (connections are opened from it). Exclusive with `redis_url`.
    pub redis: Option<redis::Client>,
    /// Redis URL. Exclusive with `redis`.
    pub redis_url: Option<String>,
    /// Names this server's consumers `<service>:<instance_id>`. Default: a fresh UUID v4.
    pub instance_id: String,
    /// Pending entries idle this long are reclaimed from dead servers. Default 60 000 ms (peer).
    pub claim_idle: Duration,
    /// How often to look for entries to reclaim. Default: `max(1 s, claim_idle / 4)` (peer).
    pub reclaim_interval: Option<Duration>,
    /// `MAXLEN ~` on reply streams. Default 1024 (peer).
    pub reply_stream_max_len: usize,
    /// Expiry set on a reply stream at every reply, so a stream of a vanished client cannot leak.
    /// Default 1 hour; `None` sets no expiry (as the peer).
    pub reply_stream_ttl: Option<Duration>,
    /// How often acknowledged entries are trimmed from command streams (`XTRIM MINID`); a
    /// busy stream is also trimmed after every 1024 acknowledgements. Default 1 s.
    pub trim_interval: Duration,
    /// How long the transport's stop waits for replies being written. Default 5 000 ms (peer).
    pub shutdown_grace: Duration,
    /// `XGROUP CREATE` start id. Default `$` (peer); `0` also serves entries written before any
    /// server ever ran.
    pub group_start_id: String,
    /// Handlers running at once per service; reading stops while all are busy. Default 256.
    pub max_concurrent_handlers: usize,
    /// A handler running longer is abandoned and the caller gets
    /// [`HANDLER_TIMEOUT`](crate::codes::HANDLER_TIMEOUT). Default `None` (no limit, as the peer).
    pub handler_timeout: Option<Duration>,
    /// An entry delivered more often than this (its handler never finished, e.g. the server
    /// crashed each time) is moved to `<prefix>:dead:<service>`. Default 5.
    pub max_deliveries: u64,
    /// `MAXLEN ~` on dead-letter streams. Default 10 000.
    pub dead_letter_max_len: usize,
    /// Entries fetched per read by an idle server. Default 16 (peer). A busy server reads up to
    /// as many entries as it is already running (fewer reads per call under load), and never
    /// more than its free handler slots.
    pub read_count: usize,
    /// `BLOCK` of the command reads. Default 1 000 ms (peer).
    pub block: Duration,
    /// Response timeout of non-blocking commands. Default 10 s.
    pub command_timeout: Duration,
}

impl RedisServerOptions {
    common_setters!();

    /// Defaults for `key_prefix`.
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            redis: None,
            redis_url: None,
            instance_id: new_instance_id(),
            claim_idle: Duration::from_millis(60_000),
            reclaim_interval: None,
            reply_stream_max_len: 1024,
            reply_stream_ttl: Some(Duration::from_secs(3600)),
            trim_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_millis(5_000),
            group_start_id: "$".to_owned(),
            max_concurrent_handlers: 256,
            handler_timeout: None,
            max_deliveries: 5,
            dead_letter_max_len: 10_000,
            read_count: 16,
            block: Duration::from_millis(1_000),
            command_timeout: Duration::from_secs(10),
        }
    }

    /// Sets how often acknowledged entries are trimmed (at least 10 ms).
    #[must_use]
    pub fn with_trim_interval(mut self, every: Duration) -> Self {
        self.trim_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Sets the reclaim idle time.
    #[must_use]
    pub fn with_claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    /// Sets the reclaim cadence.
    #[must_use]
    pub fn with_reclaim_interval(mut self, every: Duration) -> Self {
        self.reclaim_interval = Some(every);
        self
    }

    /// Sets `MAXLEN ~` for reply streams.
    #[must_use]
    pub fn with_reply_stream_max_len(mut self, n: usize) -> Self {
        self.reply_stream_max_len = n;
        self
    }

    /// Sets (or with `None` removes) the reply stream expiry.
    #[must_use]
    pub fn with_reply_stream_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// Sets the transport's stop window for replies being written.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets the `XGROUP CREATE` start id.
    #[must_use]
    pub fn with_group_start_id(mut self, id: impl Into<String>) -> Self {
        self.group_start_id = id.into();
        self
    }

    /// Sets the concurrent handler limit per service (at least 1).
    #[must_use]
    pub fn with_max_concurrent_handlers(mut self, n: usize) -> Self {
        self.max_concurrent_handlers = n.max(1);
        self
    }

    /// Sets (or with `None` removes) the handler timeout.
    #[must_use]
    pub fn with_handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets the delivery limit before dead-lettering (at least 1).
    #[must_use]
    pub fn with_max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// Sets `MAXLEN ~` for dead-letter streams.
    #[must_use]
    pub fn with_dead_letter_max_len(mut self, n: usize) -> Self {
        self.dead_letter_max_len = n;
        self
    }

    /// Sets the most entries fetched per read (at least 1).
    #[must_use]
    pub fn with_read_count(mut self, n: usize) -> Self {
        self.read_count = n.max(1);
        self
    }

    pub(crate) fn effective_reclaim_interval(&self) -> Duration {
        self.reclaim_interval
            .unwrap_or_else(|| (self.claim_idle / 4).max(Duration::from_secs(1)))
    }
}

/// Client options. Build with [`RedisClientOptions::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisClientOptions {
    /// Prefix of every key (used literally, any string).
    pub key_prefix: String,
    /// Injected client. Exclusive with `redis_url`.
    pub redis: Option<redis::Client>,
    /// Redis URL. Exclusive with `redis`.
    pub redis_url: Option<String>,
    /// Names the reply stream `<prefix>:replies:<instance_id>`. Default: a fresh UUID v4.
    pub instance_id: String,
    /// Timeout of calls that do not give their own. Default 30 000 ms (peer).
    pub default_timeout: Duration,
    /// `BLOCK` of the reply reads. Default 1 000 ms (peer).
    pub block: Duration,
    /// Response timeout of non-blocking commands (XADD). Default 10 s.
    pub command_timeout: Duration,
    /// Fail a call at once with "no server for service" when its command stream has no consumer
    /// group (nobody ever served it). Default true.
    pub fail_fast_without_server: bool,
    /// How long a seen consumer group is trusted before it is checked again. Default 5 s.
    pub group_check_ttl: Duration,
    /// Calls waiting for a reply at once; more callers wait for a slot (within their timeout).
    /// Default 1 000. See [`with_max_in_flight`](Self::with_max_in_flight).
    pub max_in_flight: usize,
}

impl RedisClientOptions {
    common_setters!();

    /// Defaults for `key_prefix`.
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            redis: None,
            redis_url: None,
            instance_id: new_instance_id(),
            default_timeout: clamator_protocol::DEFAULT_CALL_TIMEOUT,
            block: Duration::from_millis(1_000),
            command_timeout: Duration::from_secs(10),
            fail_fast_without_server: true,
            group_check_ttl: Duration::from_secs(5),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Sets the default call timeout.
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Turns the no-consumer-group fast failure on or off.
    #[must_use]
    pub fn with_fail_fast_without_server(mut self, on: bool) -> Self {
        self.fail_fast_without_server = on;
        self
    }

    /// Sets how many calls may wait for a reply at once (at least 1). Servers cap reply streams
    /// (`MAXLEN ~ 1024` in clamator 0.1.9, hard-coded in the Python peer), and this client
    /// deletes replies once read, so a stream holds only unread replies: with fewer calls in
    /// flight than the cap, no reply can be trimmed before it is read. Raise it only together
    /// with the servers' `reply_stream_max_len`.
    #[must_use]
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// Sets how long a seen consumer group is trusted.
    #[must_use]
    pub fn with_group_check_ttl(mut self, ttl: Duration) -> Self {
        self.group_check_ttl = ttl;
        self
    }
}
