//! Options for servers and clients, with the peers' defaults where they have one (spec §6.3).
//!
//! Every option type is built from `new` and `with_*` setters and read through getters: its
//! fields are private, so the checks in `validate` cannot be bypassed. Setters take any value
//! and keep chaining; a value that cannot work (a zero handler limit that would never read, a
//! `BLOCK` below 1 ms that Redis would read as `BLOCK 0`, wait forever, …) is refused with an
//! [`OptionsError`] by `validate`, which the transport's `start` runs first.

use std::fmt;
use std::time::Duration;

use clamator_protocol::{Error, TransportError};
use tokio::sync::Semaphore;

use crate::backoff;
use crate::connection::Endpoint;
use crate::presence::PresenceOptions;

/// Default [`RedisClientOptions::with_max_in_flight`]: below the peers' reply stream cap of
/// 1 024, with room for late and duplicate replies.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

/// Used when no client, URL or `REDIS_URL` is given (the peers' default).
pub const DEFAULT_URL: &str = "redis://localhost:6379";

/// The shortest `BLOCK` (and call timeout): Redis takes whole milliseconds, and `BLOCK 0` means
/// "wait forever".
const MIN_MILLIS: Duration = Duration::from_millis(1);

/// The shortest trim interval: trimming more often only costs round trips.
const MIN_TRIM_INTERVAL: Duration = Duration::from_millis(10);

/// Why options were refused (by `validate`, and so by the transport's `start`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// Both an injected client and a URL were given: which one is meant is not clear.
    ClientAndUrl,
    /// TLS options together with an injected client (whose own settings would be ignored).
    ClientAndTls,
    /// Two ways to reach Redis that exclude each other (a cluster and a single-node URL or
    /// client, a cluster and a sentinel set, seed URLs and an injected cluster client, …).
    Conflicting {
        /// The first way given.
        first: &'static str,
        /// The way that conflicts with it.
        second: &'static str,
    },
    /// TLS options for a Sentinel set: the sentinels and the master would each need their own
    /// settings, which the redis crate takes only in code (inject nothing; use `rediss://` URLs
    /// with the system roots, or a TLS-terminating proxy).
    SentinelAndTls,
    /// Master credentials (`with_sentinel_master_password` / `_user`) without `with_sentinel`.
    MasterAuthWithoutSentinel,
    /// A count below its minimum (e.g. `max_concurrent_handlers = 0`, a server that would never
    /// read).
    TooSmall {
        /// The option's name.
        option: &'static str,
        /// The smallest value it takes.
        min: usize,
        /// The value given.
        value: usize,
    },
    /// A count above its maximum (e.g. more handler slots than a semaphore holds).
    TooLarge {
        /// The option's name.
        option: &'static str,
        /// The largest value it takes.
        max: usize,
        /// The value given.
        value: usize,
    },
    /// A duration below its minimum (e.g. `block = 0`, which Redis reads as "wait forever").
    TooShort {
        /// The option's name.
        option: &'static str,
        /// The shortest duration it takes.
        min: Duration,
        /// The duration given.
        value: Duration,
    },
    /// An empty string where a name is needed (an empty instance id names no consumer and no
    /// reply stream a server accepts).
    Empty {
        /// The option's name.
        option: &'static str,
    },
    /// `group_start_id` is neither `$` nor a stream id.
    InvalidStartId(String),
    /// A duration that must stay below another (a replica `WAIT` as long as the command
    /// timeout would be cut off and read as a dead connection).
    NotBelow {
        /// The option's name.
        option: &'static str,
        /// The option it must stay below.
        limit: &'static str,
        /// The duration given.
        value: Duration,
        /// The limit's duration.
        max: Duration,
    },
    /// The reconnect backoff's longest delay is below its first.
    BackoffOrder {
        /// The first delay.
        first: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientAndUrl => f.write_str("provide either `redis` or `redis_url`, not both"),
            Self::ClientAndTls => f.write_str(
                "TLS options apply to a URL; an injected `redis` client brings its own TLS settings",
            ),
            Self::Conflicting { first, second } => {
                write!(f, "provide either `{first}` or `{second}`, not both")
            }
            Self::SentinelAndTls => f.write_str(
                "TLS options are not supported with `sentinel`; use `rediss://` sentinel URLs \
                 (system roots) instead",
            ),
            Self::MasterAuthWithoutSentinel => f.write_str(
                "sentinel master credentials are set but `sentinel` is not; put the password \
                 in the URL for a single server or a cluster",
            ),
            Self::TooSmall { option, min, value } => {
                write!(f, "`{option}` must be at least {min} (got {value})")
            }
            Self::TooLarge { option, max, value } => {
                write!(f, "`{option}` must be at most {max} (got {value})")
            }
            Self::TooShort { option, min, value } => {
                write!(f, "`{option}` must be at least {min:?} (got {value:?})")
            }
            Self::Empty { option } => write!(f, "`{option}` must not be empty"),
            Self::InvalidStartId(id) => write!(
                f,
                "`group_start_id` must be `$` or a stream id such as `0` (got \"{id}\")"
            ),
            Self::NotBelow {
                option,
                limit,
                value,
                max,
            } => write!(
                f,
                "`{option}` ({value:?}) must be below `{limit}` ({max:?})"
            ),
            Self::BackoffOrder { first, max } => write!(
                f,
                "reconnect backoff: the longest delay ({max:?}) is below the first ({first:?})"
            ),
        }
    }
}

impl std::error::Error for OptionsError {}

fn at_least(option: &'static str, value: usize, min: usize) -> Result<(), OptionsError> {
    if value < min {
        return Err(OptionsError::TooSmall { option, min, value });
    }
    Ok(())
}

fn at_most(option: &'static str, value: usize, max: usize) -> Result<(), OptionsError> {
    if value > max {
        return Err(OptionsError::TooLarge { option, max, value });
    }
    Ok(())
}

fn not_shorter(option: &'static str, value: Duration, min: Duration) -> Result<(), OptionsError> {
    if value < min {
        return Err(OptionsError::TooShort { option, min, value });
    }
    Ok(())
}

fn not_empty(option: &'static str, value: &str) -> Result<(), OptionsError> {
    if value.is_empty() {
        return Err(OptionsError::Empty { option });
    }
    Ok(())
}

fn new_instance_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Where a transport gets its Redis connections from and how it treats them; the same for
/// servers and clients (set it with `with_connection`, or the `with_redis` / `with_redis_url`
/// shorthands of either options type).
///
/// One way to reach Redis may be given: an injected client or a URL (as the peers require), a
/// cluster (seed URLs or an injected cluster client), or a Sentinel set (sentinel URLs and the
/// master's name). With none, `REDIS_URL` is read at start, else [`DEFAULT_URL`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    redis: Option<redis::Client>,
    redis_url: Option<String>,
    cluster_urls: Option<Vec<String>>,
    cluster_client: Option<InjectedCluster>,
    sentinel: Option<(Vec<String>, String)>,
    sentinel_master_auth: Option<(Option<String>, String)>,
    connect_timeout: Duration,
    command_timeout: Duration,
    reconnect_first: Duration,
    reconnect_max: Duration,
    tls: Option<TlsOptions>,
    replicated_writes: Option<crate::replication::Replicas>,
}

/// An injected cluster client (which has no `Debug` of its own).
#[derive(Clone)]
struct InjectedCluster(redis::cluster::ClusterClient);

impl fmt::Debug for InjectedCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterClient")
    }
}

/// TLS settings beyond what a `rediss://` URL says: a private CA, a client certificate for
/// mutual TLS, or (for development only) no certificate checks. Needs the `tls-rustls` or
/// `tls-native-tls` feature (`clamator`'s `tls`); without one `start()` says so.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    root_ca_pem: Option<Vec<u8>>,
    client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
    insecure: bool,
}

impl TlsOptions {
    /// Verify the server against the system's roots (what a bare `rediss://` does).
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust this CA (PEM) instead of the system roots: managed Redis with a private CA.
    #[must_use]
    pub fn with_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_ca_pem = Some(pem.into());
        self
    }

    /// Present this certificate and key (PEM) to a server that requires client certificates.
    #[must_use]
    pub fn with_client_cert_pem(
        mut self,
        cert: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert_pem = Some((cert.into(), key.into()));
        self
    }

    /// Accept any server certificate and host name. For development against self-signed
    /// servers only: it gives up the protection TLS exists for.
    #[must_use]
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionOptions {
    /// Defaults: `REDIS_URL` or [`DEFAULT_URL`], 2 s to connect, 10 s per non-blocking command,
    /// reconnect backoff 100 ms → 30 s.
    pub fn new() -> Self {
        Self {
            redis: None,
            redis_url: None,
            cluster_urls: None,
            cluster_client: None,
            sentinel: None,
            sentinel_master_auth: None,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(10),
            reconnect_first: backoff::INITIAL,
            reconnect_max: backoff::MAX,
            tls: None,
            replicated_writes: None,
        }
    }

    /// Connects with TLS using these settings (the URL's scheme must be `rediss://`; a
    /// `redis://` URL is upgraded). Exclusive with an injected client, whose own TLS settings
    /// apply.
    #[must_use]
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The TLS settings, if any.
    pub fn tls(&self) -> Option<&TlsOptions> {
        self.tls.as_ref()
    }

    /// Uses this client's connection settings (exclusive with a URL), e.g. for TLS or auth
    /// set up in code.
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

    /// Connects to a Redis Cluster through these seed nodes (`redis://` or `rediss://` URLs;
    /// any reachable one finds the rest). Every key keeps its name (no hash tags, so peers stay
    /// compatible) and lives on the node owning its slot. Exclusive with a client, a URL and a
    /// Sentinel set; TLS options apply to every node.
    #[must_use]
    pub fn with_cluster_urls(mut self, seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.cluster_urls = Some(seeds.into_iter().map(Into::into).collect());
        self
    }

    /// Uses this cluster client (its own auth, TLS and retry settings), e.g. one built with
    /// `redis::cluster::ClusterClientBuilder`. This crate's connect and command timeouts still
    /// apply to the connections it opens from it.
    #[must_use]
    pub fn with_cluster_client(mut self, client: redis::cluster::ClusterClient) -> Self {
        self.cluster_client = Some(InjectedCluster(client));
        self
    }

    /// Connects to the master that these sentinels know as `master_name`, asked again at every
    /// (re)connect: after a failover the transport follows the promoted replica and never
    /// reuses a connection to the old master (a node answering `READONLY` is left at once).
    /// Exclusive with a client, a URL and a cluster.
    #[must_use]
    pub fn with_sentinel(
        mut self,
        sentinel_urls: impl IntoIterator<Item = impl Into<String>>,
        master_name: impl Into<String>,
    ) -> Self {
        self.sentinel = Some((
            sentinel_urls.into_iter().map(Into::into).collect(),
            master_name.into(),
        ));
        self
    }

    /// Authenticates to the master (and, after a failover, to the promoted replica) with this
    /// password (`requirepass`, the `default` user); the sentinels themselves are reached as
    /// their URLs say. Only with [`with_sentinel`](Self::with_sentinel).
    #[must_use]
    pub fn with_sentinel_master_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_master_auth = Some((None, password.into()));
        self
    }

    /// Authenticates to the master as this ACL user. Only with
    /// [`with_sentinel`](Self::with_sentinel).
    #[must_use]
    pub fn with_sentinel_master_user(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.sentinel_master_auth = Some((Some(username.into()), password.into()));
        self
    }

    /// The cluster seed URLs, if given.
    pub fn cluster_urls(&self) -> Option<&[String]> {
        self.cluster_urls.as_deref()
    }

    /// The injected cluster client, if any.
    pub fn cluster_client(&self) -> Option<&redis::cluster::ClusterClient> {
        self.cluster_client.as_ref().map(|c| &c.0)
    }

    /// The sentinel URLs and the master's name, if given.
    pub fn sentinel(&self) -> Option<(&[String], &str)> {
        self.sentinel
            .as_ref()
            .map(|(urls, name)| (urls.as_slice(), name.as_str()))
    }

    /// How long opening a TCP connection to Redis may take (at least 1 ms).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The response timeout of non-blocking commands (at least 1 ms); blocking reads get their
    /// `BLOCK` on top, so only a dead connection times out.
    #[must_use]
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The delays between reconnect attempts of every loop: from `first` (at least 1 ms)
    /// doubling to `max` (at least `first`), each jittered to half to full, so loops spread
    /// out instead of hammering a Redis that is down.
    #[must_use]
    pub fn with_reconnect_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.reconnect_first = first;
        self.reconnect_max = max;
        self
    }

    /// Makes a request, a notification or a consumer group count as written only once
    /// `replicas` replicas hold it (Redis `WAIT replicas timeout` after the write), so a
    /// primary that dies right after taking a call (SIGKILL, a lost host) cannot take the call
    /// with it: the replica a failover promotes has it. Redis replicates asynchronously by
    /// default, and without this a Sentinel or cluster failover can lose the calls in flight.
    ///
    /// A write whose confirmation was lost with its connection is written again (at least
    /// once; the caller drops a duplicate reply). While fewer replicas answer, writes wait,
    /// one `WAIT` of `timeout` after another, until one more would end within a `WAIT` of the
    /// call's deadline; then the call fails
    /// with a backend error whose source is [`NotReplicated`](crate::NotReplicated). Writes in
    /// flight together share one `WAIT`. Replies need none: on one server a reply and its
    /// acknowledgement replicate together, so losing both means the request is delivered
    /// again; on a cluster, where they live on different nodes, each reply waits for its
    /// replicas before the acknowledgement is written. `replicas` at least 1; `timeout` at
    /// least 1 ms and below the command timeout. The cost is in the README ("Deploying").
    #[must_use]
    pub fn with_replicated_writes(mut self, replicas: usize, timeout: Duration) -> Self {
        self.replicated_writes = Some(crate::replication::Replicas {
            count: replicas,
            timeout,
        });
        self
    }

    /// `(replicas, timeout)`; see [`with_replicated_writes`](Self::with_replicated_writes).
    pub fn replicated_writes(&self) -> Option<(usize, Duration)> {
        self.replicated_writes.map(|r| (r.count, r.timeout))
    }

    pub(crate) fn replicas(&self) -> Option<crate::replication::Replicas> {
        self.replicated_writes
    }

    /// The injected client, if any.
    pub fn redis(&self) -> Option<&redis::Client> {
        self.redis.as_ref()
    }

    /// The URL, if one was given.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_deref()
    }

    /// See [`with_connect_timeout`](Self::with_connect_timeout).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// See [`with_command_timeout`](Self::with_command_timeout).
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// `(first, max)`; see [`with_reconnect_backoff`](Self::with_reconnect_backoff).
    pub fn reconnect_backoff(&self) -> (Duration, Duration) {
        (self.reconnect_first, self.reconnect_max)
    }

    /// Refuses two ways to reach Redis at once (client and URL, a cluster and anything else, a
    /// Sentinel set and anything else), an empty seed or sentinel list or master name, TLS
    /// options with an injected client or a Sentinel set, and timeouts or delays below 1 ms. A
    /// URL is parsed (and `REDIS_URL` read) only at start.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.redis.is_some() && self.redis_url.is_some() {
            return Err(OptionsError::ClientAndUrl);
        }
        let given: Vec<&'static str> = [
            (self.redis.is_some(), "redis"),
            (self.redis_url.is_some(), "redis_url"),
            (self.cluster_urls.is_some(), "cluster_urls"),
            (self.cluster_client.is_some(), "cluster_client"),
            (self.sentinel.is_some(), "sentinel"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if let [first, second, ..] = given[..] {
            return Err(OptionsError::Conflicting { first, second });
        }
        if (self.redis.is_some() || self.cluster_client.is_some()) && self.tls.is_some() {
            return Err(OptionsError::ClientAndTls);
        }
        if self
            .cluster_urls
            .as_ref()
            .is_some_and(|u| u.is_empty() || u.iter().any(String::is_empty))
        {
            return Err(OptionsError::Empty {
                option: "cluster_urls",
            });
        }
        if let Some((urls, name)) = &self.sentinel {
            if urls.is_empty() || urls.iter().any(String::is_empty) {
                return Err(OptionsError::Empty {
                    option: "sentinel_urls",
                });
            }
            not_empty("master_name", name)?;
            if self.tls.is_some() {
                return Err(OptionsError::SentinelAndTls);
            }
        } else if self.sentinel_master_auth.is_some() {
            return Err(OptionsError::MasterAuthWithoutSentinel);
        }
        not_shorter("connect_timeout", self.connect_timeout, MIN_MILLIS)?;
        not_shorter("command_timeout", self.command_timeout, MIN_MILLIS)?;
        not_shorter("reconnect_backoff", self.reconnect_first, MIN_MILLIS)?;
        if let Some((replicas, timeout)) = self.replicated_writes() {
            if replicas == 0 {
                return Err(OptionsError::TooSmall {
                    option: "replicated_writes.replicas",
                    min: 1,
                    value: replicas,
                });
            }
            not_shorter("replicated_writes.timeout", timeout, MIN_MILLIS)?;
            if timeout >= self.command_timeout {
                return Err(OptionsError::NotBelow {
                    option: "replicated_writes.timeout",
                    limit: "command_timeout",
                    value: timeout,
                    max: self.command_timeout,
                });
            }
        }
        if self.reconnect_max < self.reconnect_first {
            return Err(OptionsError::BackoffOrder {
                first: self.reconnect_first,
                max: self.reconnect_max,
            });
        }
        Ok(())
    }

    /// Where to open connections: the cluster or Sentinel set given, else the injected client,
    /// else one for the URL, else for `REDIS_URL`, else for [`DEFAULT_URL`].
    pub(crate) fn resolve(&self) -> Result<Endpoint, Error> {
        self.validate()
            .map_err(|e| TransportError::Config(e.to_string()))?;
        if let Some(c) = &self.cluster_client {
            return Ok(Endpoint::Cluster(c.0.clone()));
        }
        if let Some(seeds) = &self.cluster_urls {
            return open_cluster(seeds, self.tls.as_ref()).map(Endpoint::Cluster);
        }
        if let Some((urls, name)) = &self.sentinel {
            return open_sentinel(urls, name, self.sentinel_master_auth.as_ref())
                .map(Endpoint::Sentinel);
        }
        self.resolve_single().map(Endpoint::Single)
    }

    fn resolve_single(&self) -> Result<redis::Client, Error> {
        match (&self.redis, &self.redis_url) {
            (Some(c), _) => Ok(c.clone()),
            (None, Some(u)) => open(u, self.tls.as_ref()),
            (None, None) => {
                let url = std::env::var("REDIS_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| DEFAULT_URL.to_owned());
                open(&url, self.tls.as_ref())
            }
        }
    }
}

const TLS_FEATURE_HINT: &str =
    "TLS needs a TLS feature: `clamator` with features [\"redis\", \"tls\"] \
     (or `clamator-over-redis` with `tls-rustls` / `tls-native-tls`)";

/// Refuses TLS without a TLS feature; returns the URL as it is to be opened (upgraded to
/// `rediss://` and marked `#insecure` as the options say).
fn tls_url(url: &str, tls: Option<&TlsOptions>) -> Result<String, Error> {
    let wants_tls = tls.is_some() || url.starts_with("rediss://");
    if wants_tls && !cfg!(any(feature = "tls-rustls", feature = "tls-native-tls")) {
        return Err(TransportError::Config(format!("{url}: {TLS_FEATURE_HINT}")).into());
    }
    let Some(tls) = tls else {
        return Ok(url.to_owned());
    };
    let mut url = match url.strip_prefix("redis://") {
        Some(rest) => format!("rediss://{rest}"),
        None => url.to_owned(),
    };
    if tls.insecure && !url.contains("#insecure") {
        url.push_str("#insecure");
    }
    Ok(url)
}

fn open(url: &str, tls: Option<&TlsOptions>) -> Result<redis::Client, Error> {
    let invalid = |e| TransportError::backend(format!("invalid redis url \"{url}\""), e);
    let opened = tls_url(url, tls)?;
    match tls {
        None => redis::Client::open(opened).map_err(|e| invalid(e).into()),
        Some(tls) => open_tls(&opened, tls).map_err(|e| invalid(e).into()),
    }
}

/// A cluster client for these seeds, with the TLS options applied to every node.
fn open_cluster(
    seeds: &[String],
    tls: Option<&TlsOptions>,
) -> Result<redis::cluster::ClusterClient, Error> {
    let urls = seeds
        .iter()
        .map(|u| tls_url(u, tls))
        .collect::<Result<Vec<_>, _>>()?;
    let invalid = |e| TransportError::backend(format!("invalid cluster seed urls {seeds:?}"), e);
    #[cfg_attr(not(feature = "tls-rustls"), allow(unused_mut))]
    let mut builder = redis::cluster::ClusterClientBuilder::new(urls);
    if let Some(tls) = tls {
        if tls.root_ca_pem.is_some() || tls.client_cert_pem.is_some() {
            builder = cluster_certs(builder, tls)?;
        }
    }
    builder.build().map_err(|e| invalid(e).into())
}

#[cfg(feature = "tls-rustls")]
fn cluster_certs(
    builder: redis::cluster::ClusterClientBuilder,
    tls: &TlsOptions,
) -> Result<redis::cluster::ClusterClientBuilder, Error> {
    // As open_tls: ring unless the application installed a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(builder.certs(redis::TlsCertificates {
        client_tls: tls
            .client_cert_pem
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
        root_cert: tls.root_ca_pem.clone(),
    }))
}

#[cfg(not(feature = "tls-rustls"))]
fn cluster_certs(
    _builder: redis::cluster::ClusterClientBuilder,
    _tls: &TlsOptions,
) -> Result<redis::cluster::ClusterClientBuilder, Error> {
    Err(TransportError::Config(
        "a private CA or client certificate for a cluster needs the `tls-rustls` feature \
         (the redis crate takes cluster certificates only through rustls)"
            .to_owned(),
    )
    .into())
}

/// A Sentinel client that finds the master named `name` through `urls`.
fn open_sentinel(
    urls: &[String],
    name: &str,
    master_auth: Option<&(Option<String>, String)>,
) -> Result<std::sync::Arc<tokio::sync::Mutex<redis::sentinel::SentinelClient>>, Error> {
    for url in urls {
        tls_url(url, None)?;
    }
    let client = redis::sentinel::SentinelClient::build(
        urls.to_vec(),
        // `String` or `impl AsRef<str>`, depending on the redis crate's TLS features.
        String::from(name),
        master_auth.map(|(user, password)| {
            let mut info = redis::RedisConnectionInfo::default().set_password(password);
            if let Some(user) = user {
                info = info.set_username(user);
            }
            redis::sentinel::SentinelNodeConnectionInfo::default().set_redis_connection_info(info)
        }),
        redis::sentinel::SentinelServerType::Master,
    )
    .map_err(|e| TransportError::backend(format!("invalid sentinel urls {urls:?}"), e))?;
    Ok(std::sync::Arc::new(tokio::sync::Mutex::new(client)))
}

#[cfg(any(feature = "tls-rustls", feature = "tls-native-tls"))]
fn open_tls(url: &str, tls: &TlsOptions) -> redis::RedisResult<redis::Client> {
    #[cfg(feature = "tls-rustls")]
    {
        // redis links rustls without a crypto provider; use ring unless the application
        // installed one (an error here means one already is).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if tls.root_ca_pem.is_none() && tls.client_cert_pem.is_none() {
        return redis::Client::open(url);
    }
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls: tls
                .client_cert_pem
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: tls.root_ca_pem.clone(),
        },
    )
}

#[cfg(not(any(feature = "tls-rustls", feature = "tls-native-tls")))]
fn open_tls(url: &str, _tls: &TlsOptions) -> redis::RedisResult<redis::Client> {
    // Not reached: open() refuses TLS without a TLS feature, with the hint.
    redis::Client::open(url)
}

/// Server options: `RedisServerOptions::new(prefix)` then `with_*` setters; checked by
/// [`validate`](Self::validate) (and so by `start`).
///
/// ```
/// use std::time::Duration;
/// use clamator_over_redis::{OptionsError, RedisServerOptions};
///
/// let opts = RedisServerOptions::new("app")
///     .with_redis_url("redis://127.0.0.1:6379")
///     .with_max_concurrent_handlers(64)
///     .with_handler_timeout(Some(Duration::from_secs(30)));
/// assert_eq!(opts.max_concurrent_handlers(), 64);
/// assert!(opts.validate().is_ok());
///
/// // A server that could never read is refused, not started.
/// let err = RedisServerOptions::new("app").with_max_concurrent_handlers(0).validate();
/// assert!(matches!(err, Err(OptionsError::TooSmall { option: "max_concurrent_handlers", .. })));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisServerOptions {
    key_prefix: String,
    connection: ConnectionOptions,
    instance_id: String,
    claim_idle: Duration,
    reclaim_interval: Option<Duration>,
    reply_stream_max_len: usize,
    reply_stream_ttl: Option<Duration>,
    trim_interval: Duration,
    shutdown_grace: Duration,
    group_start_id: String,
    max_concurrent_handlers: usize,
    handler_timeout: Option<Duration>,
    max_deliveries: u64,
    dead_letter_max_len: usize,
    read_count: usize,
    block: Duration,
    presence: PresenceOptions,
    report_missing_subscriber: bool,
}

impl RedisServerOptions {
    /// Defaults for `key_prefix` (the prefix of every key, used literally).
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            connection: ConnectionOptions::new(),
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
            presence: PresenceOptions::new(),
            report_missing_subscriber: false,
        }
    }

    /// Sets how the server announces itself for `discover()` (heartbeat, TTL, or off).
    #[must_use]
    pub fn with_presence(mut self, presence: PresenceOptions) -> Self {
        self.presence = presence;
        self
    }

    /// When true, `start()` writes one line to stderr if no `tracing` subscriber is installed,
    /// so a server whose logs go nowhere says so once. Off by default: a library does not
    /// write to stderr unasked.
    #[must_use]
    pub fn with_report_missing_subscriber(mut self, report: bool) -> Self {
        self.report_missing_subscriber = report;
        self
    }

    /// See [`with_presence`](Self::with_presence).
    pub fn presence(&self) -> &PresenceOptions {
        &self.presence
    }

    /// See [`with_report_missing_subscriber`](Self::with_report_missing_subscriber).
    pub fn report_missing_subscriber(&self) -> bool {
        self.report_missing_subscriber
    }

    /// Sets where connections come from and how they are treated.
    #[must_use]
    pub fn with_connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Shorthand for [`ConnectionOptions::with_redis`] on this server's connection options.
    #[must_use]
    pub fn with_redis(mut self, client: redis::Client) -> Self {
        self.connection = self.connection.with_redis(client);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_redis_url`] on this server's connection options.
    #[must_use]
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.connection = self.connection.with_redis_url(url);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_cluster_urls`] on this server's connection options.
    #[must_use]
    pub fn with_cluster_urls(mut self, seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.connection = self.connection.with_cluster_urls(seeds);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_cluster_client`] on this server's connection
    /// options.
    #[must_use]
    pub fn with_cluster_client(mut self, client: redis::cluster::ClusterClient) -> Self {
        self.connection = self.connection.with_cluster_client(client);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_replicated_writes`] on this server's connection
    /// options.
    #[must_use]
    pub fn with_replicated_writes(mut self, replicas: usize, timeout: Duration) -> Self {
        self.connection = self.connection.with_replicated_writes(replicas, timeout);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_sentinel`] on this server's connection options.
    #[must_use]
    pub fn with_sentinel(
        mut self,
        sentinel_urls: impl IntoIterator<Item = impl Into<String>>,
        master_name: impl Into<String>,
    ) -> Self {
        self.connection = self.connection.with_sentinel(sentinel_urls, master_name);
        self
    }

    /// Sets the instance id, which names this server's consumers `<service>:<instance_id>`
    /// (not empty). Default: a fresh UUID v4.
    #[must_use]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// Sets how long a pending entry must be idle before this server reclaims it from a dead
    /// one (`XAUTOCLAIM` min idle, at least 1 ms). Default 60 000 ms (peer).
    #[must_use]
    pub fn with_claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    /// Sets how often to look for entries to reclaim (at least 1 ms). Default:
    /// `max(1 s, claim_idle / 4)` (peer).
    #[must_use]
    pub fn with_reclaim_interval(mut self, every: Duration) -> Self {
        self.reclaim_interval = Some(every);
        self
    }

    /// Sets `MAXLEN ~` on reply streams (at least 1). Default 1024 (peer).
    #[must_use]
    pub fn with_reply_stream_max_len(mut self, n: usize) -> Self {
        self.reply_stream_max_len = n;
        self
    }

    /// Sets the expiry put on a reply stream at every reply, so a stream of a vanished client
    /// cannot leak (at least 1 ms); `None` sets none (as the peer). Default 1 hour.
    #[must_use]
    pub fn with_reply_stream_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.reply_stream_ttl = ttl;
        self
    }

    /// Sets how often acknowledged entries are trimmed from command streams (`XTRIM MINID`, at
    /// least 10 ms); a busy stream is also trimmed after every 1024 acknowledgements.
    /// Default 1 s.
    #[must_use]
    pub fn with_trim_interval(mut self, every: Duration) -> Self {
        self.trim_interval = every;
        self
    }

    /// Sets how long the transport's stop waits for replies being written. Default 5 000 ms
    /// (peer).
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets the `XGROUP CREATE` start id: `$` (default, peer) or a stream id; `0` also serves
    /// entries written before any server ever ran.
    #[must_use]
    pub fn with_group_start_id(mut self, id: impl Into<String>) -> Self {
        self.group_start_id = id.into();
        self
    }

    /// Sets how many handlers run at once per service (at least 1); reading stops while all
    /// are busy. Default 256.
    #[must_use]
    pub fn with_max_concurrent_handlers(mut self, n: usize) -> Self {
        self.max_concurrent_handlers = n;
        self
    }

    /// Sets the handler timeout (at least 1 ms): a handler running longer is abandoned and the
    /// caller gets [`HANDLER_TIMEOUT`](crate::codes::HANDLER_TIMEOUT). `None` (default, as the
    /// peer): no limit.
    #[must_use]
    pub fn with_handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets how often an entry may be delivered (at least 1): one delivered more often (its
    /// handler never finished, e.g. the server crashed each time) is moved to
    /// `<prefix>:dead:<service>`. Default 5.
    #[must_use]
    pub fn with_max_deliveries(mut self, n: u64) -> Self {
        self.max_deliveries = n;
        self
    }

    /// Sets `MAXLEN ~` on dead-letter streams (at least 1). Default 10 000.
    #[must_use]
    pub fn with_dead_letter_max_len(mut self, n: usize) -> Self {
        self.dead_letter_max_len = n;
        self
    }

    /// Sets the entries fetched per read by an idle server (at least 1). Default 16 (peer). A
    /// busy server reads up to as many entries as it is already running (fewer reads per call
    /// under load), and never more than its free handler slots.
    #[must_use]
    pub fn with_read_count(mut self, n: usize) -> Self {
        self.read_count = n;
        self
    }

    /// Sets `BLOCK` of the command reads (at least 1 ms: `BLOCK 0` would wait forever).
    /// Default 1 000 ms (peer).
    #[must_use]
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// The prefix of every key.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Where connections come from and how they are treated.
    pub fn connection(&self) -> &ConnectionOptions {
        &self.connection
    }

    /// See [`with_instance_id`](Self::with_instance_id).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// See [`with_claim_idle`](Self::with_claim_idle).
    pub fn claim_idle(&self) -> Duration {
        self.claim_idle
    }

    /// The reclaim cadence set with [`with_reclaim_interval`](Self::with_reclaim_interval);
    /// `None`: the default, `max(1 s, claim_idle / 4)`.
    pub fn reclaim_interval(&self) -> Option<Duration> {
        self.reclaim_interval
    }

    /// See [`with_reply_stream_max_len`](Self::with_reply_stream_max_len).
    pub fn reply_stream_max_len(&self) -> usize {
        self.reply_stream_max_len
    }

    /// See [`with_reply_stream_ttl`](Self::with_reply_stream_ttl).
    pub fn reply_stream_ttl(&self) -> Option<Duration> {
        self.reply_stream_ttl
    }

    /// See [`with_trim_interval`](Self::with_trim_interval).
    pub fn trim_interval(&self) -> Duration {
        self.trim_interval
    }

    /// See [`with_shutdown_grace`](Self::with_shutdown_grace).
    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace
    }

    /// See [`with_group_start_id`](Self::with_group_start_id).
    pub fn group_start_id(&self) -> &str {
        &self.group_start_id
    }

    /// See [`with_max_concurrent_handlers`](Self::with_max_concurrent_handlers).
    pub fn max_concurrent_handlers(&self) -> usize {
        self.max_concurrent_handlers
    }

    /// See [`with_handler_timeout`](Self::with_handler_timeout).
    pub fn handler_timeout(&self) -> Option<Duration> {
        self.handler_timeout
    }

    /// See [`with_max_deliveries`](Self::with_max_deliveries).
    pub fn max_deliveries(&self) -> u64 {
        self.max_deliveries
    }

    /// See [`with_dead_letter_max_len`](Self::with_dead_letter_max_len).
    pub fn dead_letter_max_len(&self) -> usize {
        self.dead_letter_max_len
    }

    /// See [`with_read_count`](Self::with_read_count).
    pub fn read_count(&self) -> usize {
        self.read_count
    }

    /// See [`with_block`](Self::with_block).
    pub fn block(&self) -> Duration {
        self.block
    }

    /// Refuses values that cannot work: zero counts and limits, durations below their minimum,
    /// an empty instance id, a start id that is neither `$` nor a stream id, and inconsistent
    /// connection options. The first problem found is reported.
    pub fn validate(&self) -> Result<(), OptionsError> {
        self.connection.validate()?;
        not_empty("instance_id", &self.instance_id)?;
        not_shorter("claim_idle", self.claim_idle, MIN_MILLIS)?;
        if let Some(every) = self.reclaim_interval {
            not_shorter("reclaim_interval", every, MIN_MILLIS)?;
        }
        at_least("reply_stream_max_len", self.reply_stream_max_len, 1)?;
        if let Some(ttl) = self.reply_stream_ttl {
            not_shorter("reply_stream_ttl", ttl, MIN_MILLIS)?;
        }
        not_shorter("trim_interval", self.trim_interval, MIN_TRIM_INTERVAL)?;
        let start = self.group_start_id.as_str();
        if start != "$" && crate::ops::parse_id(start).is_none() {
            return Err(OptionsError::InvalidStartId(self.group_start_id.clone()));
        }
        let handlers = self.max_concurrent_handlers;
        at_least("max_concurrent_handlers", handlers, 1)?;
        at_most("max_concurrent_handlers", handlers, Semaphore::MAX_PERMITS)?;
        if let Some(limit) = self.handler_timeout {
            not_shorter("handler_timeout", limit, MIN_MILLIS)?;
        }
        if self.max_deliveries == 0 {
            return Err(OptionsError::TooSmall {
                option: "max_deliveries",
                min: 1,
                value: 0,
            });
        }
        at_least("dead_letter_max_len", self.dead_letter_max_len, 1)?;
        at_least("read_count", self.read_count, 1)?;
        not_shorter("block", self.block, MIN_MILLIS)?;
        self.presence.validate()?;
        Ok(())
    }

    pub(crate) fn effective_reclaim_interval(&self) -> Duration {
        self.reclaim_interval
            .unwrap_or_else(|| (self.claim_idle / 4).max(Duration::from_secs(1)))
    }
}

/// Client options: `RedisClientOptions::new(prefix)` then `with_*` setters; checked by
/// [`validate`](Self::validate) (and so by `start`).
///
/// ```
/// use std::time::Duration;
/// use clamator_over_redis::{ConnectionOptions, OptionsError, RedisClientOptions};
///
/// let opts = RedisClientOptions::new("app")
///     .with_connection(
///         ConnectionOptions::new()
///             .with_redis_url("redis://127.0.0.1:6379")
///             .with_command_timeout(Duration::from_secs(2)),
///     )
///     .with_default_timeout(Duration::from_secs(5));
/// assert!(opts.validate().is_ok());
///
/// // `BLOCK 0` would wait forever: refused.
/// let err = RedisClientOptions::new("app").with_block(Duration::ZERO).validate();
/// assert!(matches!(err, Err(OptionsError::TooShort { option: "block", .. })));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisClientOptions {
    key_prefix: String,
    connection: ConnectionOptions,
    instance_id: String,
    default_timeout: Duration,
    block: Duration,
    fail_fast_without_server: bool,
    group_check_ttl: Duration,
    max_in_flight: usize,
}

impl RedisClientOptions {
    /// Defaults for `key_prefix` (the prefix of every key, used literally).
    pub fn new(key_prefix: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            connection: ConnectionOptions::new(),
            instance_id: new_instance_id(),
            default_timeout: clamator_protocol::DEFAULT_CALL_TIMEOUT,
            block: Duration::from_millis(1_000),
            fail_fast_without_server: true,
            group_check_ttl: Duration::from_secs(5),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Sets where connections come from and how they are treated.
    #[must_use]
    pub fn with_connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Shorthand for [`ConnectionOptions::with_redis`] on this client's connection options.
    #[must_use]
    pub fn with_redis(mut self, client: redis::Client) -> Self {
        self.connection = self.connection.with_redis(client);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_redis_url`] on this client's connection options.
    #[must_use]
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.connection = self.connection.with_redis_url(url);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_cluster_urls`] on this client's connection options.
    #[must_use]
    pub fn with_cluster_urls(mut self, seeds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.connection = self.connection.with_cluster_urls(seeds);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_cluster_client`] on this client's connection
    /// options.
    #[must_use]
    pub fn with_cluster_client(mut self, client: redis::cluster::ClusterClient) -> Self {
        self.connection = self.connection.with_cluster_client(client);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_replicated_writes`] on this client's connection
    /// options.
    #[must_use]
    pub fn with_replicated_writes(mut self, replicas: usize, timeout: Duration) -> Self {
        self.connection = self.connection.with_replicated_writes(replicas, timeout);
        self
    }

    /// Shorthand for [`ConnectionOptions::with_sentinel`] on this client's connection options.
    #[must_use]
    pub fn with_sentinel(
        mut self,
        sentinel_urls: impl IntoIterator<Item = impl Into<String>>,
        master_name: impl Into<String>,
    ) -> Self {
        self.connection = self.connection.with_sentinel(sentinel_urls, master_name);
        self
    }

    /// Sets the instance id, which names the reply stream `<prefix>:replies:<instance_id>`
    /// (not empty: servers refuse a reply stream without one). Default: a fresh UUID v4.
    #[must_use]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = id.into();
        self
    }

    /// Sets the timeout of calls that do not give their own (at least 1 ms). Default
    /// 30 000 ms (peer).
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Sets `BLOCK` of the reply reads (at least 1 ms: `BLOCK 0` would wait forever).
    /// Default 1 000 ms (peer).
    #[must_use]
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Turns the no-consumer-group fast failure on or off: with it, a call fails at once with
    /// "no server for service" when its command stream has no consumer group (nobody ever
    /// served it). Default on.
    #[must_use]
    pub fn with_fail_fast_without_server(mut self, on: bool) -> Self {
        self.fail_fast_without_server = on;
        self
    }

    /// Sets how many calls may wait for a reply at once (at least 1); more callers wait for a
    /// slot within their timeout. Servers cap reply streams (`MAXLEN ~ 1024` in clamator
    /// 0.1.9, hard-coded in the Python peer), and this client deletes replies once read, so a
    /// stream holds only unread replies: with fewer calls in flight than the cap, no reply can
    /// be trimmed before it is read. Raise it only together with the servers'
    /// `reply_stream_max_len`. Default [`DEFAULT_MAX_IN_FLIGHT`].
    #[must_use]
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Sets how long a seen consumer group is trusted before it is checked again. Default 5 s.
    #[must_use]
    pub fn with_group_check_ttl(mut self, ttl: Duration) -> Self {
        self.group_check_ttl = ttl;
        self
    }

    /// The prefix of every key.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Where connections come from and how they are treated.
    pub fn connection(&self) -> &ConnectionOptions {
        &self.connection
    }

    /// See [`with_instance_id`](Self::with_instance_id).
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// See [`with_default_timeout`](Self::with_default_timeout).
    pub fn default_timeout(&self) -> Duration {
        self.default_timeout
    }

    /// See [`with_block`](Self::with_block).
    pub fn block(&self) -> Duration {
        self.block
    }

    /// See [`with_fail_fast_without_server`](Self::with_fail_fast_without_server).
    pub fn fail_fast_without_server(&self) -> bool {
        self.fail_fast_without_server
    }

    /// See [`with_group_check_ttl`](Self::with_group_check_ttl).
    pub fn group_check_ttl(&self) -> Duration {
        self.group_check_ttl
    }

    /// See [`with_max_in_flight`](Self::with_max_in_flight).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Refuses values that cannot work: a zero in-flight limit, a default timeout or `BLOCK`
    /// below 1 ms, an empty instance id, and inconsistent connection options. The first
    /// problem found is reported.
    pub fn validate(&self) -> Result<(), OptionsError> {
        self.connection.validate()?;
        not_empty("instance_id", &self.instance_id)?;
        not_shorter("default_timeout", self.default_timeout, MIN_MILLIS)?;
        not_shorter("block", self.block, MIN_MILLIS)?;
        at_least("max_in_flight", self.max_in_flight, 1)?;
        at_most("max_in_flight", self.max_in_flight, Semaphore::MAX_PERMITS)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<(), OptionsError>) -> String {
        r.expect_err("should be refused").to_string()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(RedisServerOptions::new("p").validate(), Ok(()));
        assert_eq!(RedisClientOptions::new("p").validate(), Ok(()));
        assert_eq!(ConnectionOptions::default().validate(), Ok(()));
    }

    #[test]
    fn server_values_that_cannot_work_are_refused() {
        let s = || RedisServerOptions::new("p");
        let ms = Duration::from_millis;
        let cases: Vec<(RedisServerOptions, &str)> = vec![
            (
                s().with_max_concurrent_handlers(0),
                "`max_concurrent_handlers` must be at least 1 (got 0)",
            ),
            (
                s().with_max_concurrent_handlers(usize::MAX),
                "`max_concurrent_handlers` must be at most",
            ),
            (
                s().with_block(Duration::ZERO),
                "`block` must be at least 1ms (got 0ns)",
            ),
            (
                s().with_block(Duration::from_micros(500)),
                "`block` must be at least 1ms",
            ),
            (s().with_read_count(0), "`read_count` must be at least 1"),
            (
                s().with_max_deliveries(0),
                "`max_deliveries` must be at least 1",
            ),
            (
                s().with_dead_letter_max_len(0),
                "`dead_letter_max_len` must be at least 1",
            ),
            (
                s().with_reply_stream_max_len(0),
                "`reply_stream_max_len` must be at least 1",
            ),
            (
                s().with_reply_stream_ttl(Some(Duration::ZERO)),
                "`reply_stream_ttl` must be at least 1ms",
            ),
            (
                s().with_trim_interval(ms(1)),
                "`trim_interval` must be at least 10ms",
            ),
            (
                s().with_claim_idle(Duration::ZERO),
                "`claim_idle` must be at least 1ms",
            ),
            (
                s().with_reclaim_interval(Duration::ZERO),
                "`reclaim_interval` must be at least 1ms",
            ),
            (
                s().with_handler_timeout(Some(Duration::ZERO)),
                "`handler_timeout` must be at least 1ms",
            ),
            (s().with_instance_id(""), "`instance_id` must not be empty"),
            (
                s().with_group_start_id("latest"),
                "`group_start_id` must be `$` or a stream id",
            ),
            (
                s().with_connection(ConnectionOptions::new().with_command_timeout(Duration::ZERO)),
                "`command_timeout` must be at least 1ms",
            ),
        ];
        for (opts, want) in cases {
            let got = refused(opts.validate());
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
        assert_eq!(s().with_group_start_id("0").validate(), Ok(()));
        assert_eq!(
            s().with_group_start_id("1700000000000-1").validate(),
            Ok(())
        );
        assert_eq!(
            s().with_handler_timeout(None)
                .with_reply_stream_ttl(None)
                .validate(),
            Ok(())
        );
    }

    #[test]
    fn client_values_that_cannot_work_are_refused() {
        let c = || RedisClientOptions::new("p");
        let cases: Vec<(RedisClientOptions, &str)> = vec![
            (
                c().with_block(Duration::ZERO),
                "`block` must be at least 1ms",
            ),
            (
                c().with_max_in_flight(0),
                "`max_in_flight` must be at least 1",
            ),
            (
                c().with_max_in_flight(usize::MAX),
                "`max_in_flight` must be at most",
            ),
            (
                c().with_default_timeout(Duration::ZERO),
                "`default_timeout` must be at least 1ms",
            ),
            (c().with_instance_id(""), "`instance_id` must not be empty"),
        ];
        for (opts, want) in cases {
            let got = refused(opts.validate());
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn connection_values_that_cannot_work_are_refused() {
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let both = ConnectionOptions::new()
            .with_redis(client)
            .with_redis_url("redis://127.0.0.1:2");
        assert_eq!(both.validate(), Err(OptionsError::ClientAndUrl));
        assert_eq!(
            refused(both.validate()),
            "provide either `redis` or `redis_url`, not both"
        );
        let backwards = ConnectionOptions::new()
            .with_reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert!(matches!(
            backwards.validate(),
            Err(OptionsError::BackoffOrder { .. })
        ));
        let zero = ConnectionOptions::new().with_reconnect_backoff(Duration::ZERO, Duration::ZERO);
        assert!(refused(zero.validate()).starts_with("`reconnect_backoff` must be at least 1ms"));
        let no_connect = ConnectionOptions::new().with_connect_timeout(Duration::ZERO);
        assert!(refused(no_connect.validate()).starts_with("`connect_timeout`"));
    }

    #[test]
    fn cluster_and_sentinel_combinations_that_cannot_work_are_refused() {
        let seeds = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
        assert!(ConnectionOptions::new()
            .with_cluster_urls(seeds)
            .validate()
            .is_ok());
        let url_and_cluster = ConnectionOptions::new()
            .with_redis_url("redis://127.0.0.1:1")
            .with_cluster_urls(seeds);
        assert_eq!(
            url_and_cluster.validate(),
            Err(OptionsError::Conflicting {
                first: "redis_url",
                second: "cluster_urls"
            })
        );
        assert_eq!(
            refused(url_and_cluster.validate()),
            "provide either `redis_url` or `cluster_urls`, not both"
        );
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let client_and_cluster = ConnectionOptions::new()
            .with_redis(client)
            .with_cluster_urls(seeds);
        assert!(matches!(
            client_and_cluster.validate(),
            Err(OptionsError::Conflicting { first: "redis", .. })
        ));
        let injected = redis::cluster::ClusterClient::new(seeds.to_vec()).unwrap();
        let both_clusters = ConnectionOptions::new()
            .with_cluster_urls(seeds)
            .with_cluster_client(injected.clone());
        assert!(matches!(
            both_clusters.validate(),
            Err(OptionsError::Conflicting { .. })
        ));
        let injected_and_tls = ConnectionOptions::new()
            .with_cluster_client(injected)
            .with_tls(TlsOptions::new());
        assert_eq!(injected_and_tls.validate(), Err(OptionsError::ClientAndTls));
        let cluster_and_sentinel = ConnectionOptions::new()
            .with_cluster_urls(seeds)
            .with_sentinel(["redis://127.0.0.1:26379"], "m");
        assert!(matches!(
            cluster_and_sentinel.validate(),
            Err(OptionsError::Conflicting { .. })
        ));
        let no_seeds = ConnectionOptions::new().with_cluster_urls(Vec::<String>::new());
        assert!(refused(no_seeds.validate()).starts_with("`cluster_urls` must not be empty"));
        let blank_seed = ConnectionOptions::new().with_cluster_urls([""]);
        assert!(blank_seed.validate().is_err());
        let no_sentinels = ConnectionOptions::new().with_sentinel(Vec::<String>::new(), "m");
        assert!(refused(no_sentinels.validate()).starts_with("`sentinel_urls`"));
        let no_name = ConnectionOptions::new().with_sentinel(["redis://127.0.0.1:26379"], "");
        assert!(refused(no_name.validate()).starts_with("`master_name`"));
        let sentinel_tls = ConnectionOptions::new()
            .with_sentinel(["redis://127.0.0.1:26379"], "m")
            .with_tls(TlsOptions::new());
        assert_eq!(sentinel_tls.validate(), Err(OptionsError::SentinelAndTls));
    }

    #[test]
    fn shorthands_set_the_connection_options() {
        let opts = RedisServerOptions::new("p").with_redis_url("redis://h:1");
        assert_eq!(opts.connection().redis_url(), Some("redis://h:1"));
        let opts = RedisClientOptions::new("p").with_redis_url("redis://h:2");
        assert_eq!(opts.connection().redis_url(), Some("redis://h:2"));
        let opts = RedisServerOptions::new("p").with_cluster_urls(["redis://h:3"]);
        assert_eq!(
            opts.connection().cluster_urls(),
            Some(&["redis://h:3".to_owned()][..])
        );
        let opts = RedisClientOptions::new("p").with_sentinel(["redis://h:4"], "m");
        assert_eq!(
            opts.connection().sentinel(),
            Some((&["redis://h:4".to_owned()][..], "m"))
        );
        let injected = redis::cluster::ClusterClient::new(vec!["redis://h:5"]).unwrap();
        let opts = RedisClientOptions::new("p").with_cluster_client(injected);
        assert!(opts.connection().cluster_client().is_some());
    }
}
