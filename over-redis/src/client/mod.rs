//! The client side: [`RedisClientTransport`] moves envelopes (one multiplexed connection for
//! writes, one reply reader handing responses to the core's [`Replies`]); lifecycle, timeouts
//! and waiting calls are the [`RpcClientCore`]'s. [`RedisRpcClient`] is that core over this
//! transport.

mod discover;
mod reply_lost;
mod reply_reader;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clamator_protocol::telemetry;
use clamator_protocol::{
    ClientTransport, Envelope, Error, Notification, Replies, Request, Response, RpcClientCore,
    SendMark, TransportError,
};
use dashmap::DashMap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::connection::{is_transient, Endpoint, SharedConnection};
use crate::keys::{self, fields};
use crate::ops;
use crate::options::RedisClientOptions;
use crate::replication::{self, Gates, ReplicatedError};
use crate::stats::{bump, ClientCounters, ClientStats};

/// First and longest pause between attempts to write a request through a transient failure
/// (the call's own timeout bounds the whole).
const XADD_RETRY_FIRST: Duration = Duration::from_millis(20);
const XADD_RETRY_MAX: Duration = Duration::from_secs(1);

/// A clamator client over Redis Streams: the protocol's client core over
/// [`RedisClientTransport`]. Build it from options; nothing is contacted before `start`.
///
/// ```no_run
/// # async fn demo() -> Result<(), clamator_protocol::Error> {
/// use clamator_over_redis::{RedisClientOptions, RedisRpcClient};
/// use serde_json::json;
/// let client = RedisRpcClient::new(RedisClientOptions::new("app"));
/// client.start().await?;
/// let sum = client.call_raw("arith", "add", json!({"a": 2, "b": 3}), None).await?;
/// println!("{} replies so far", client.transport().stats().replies);
/// client.stop().await;
/// # Ok(()) }
/// ```
pub type RedisRpcClient = RpcClientCore<RedisClientTransport>;

/// The connection side of a client, once its options proved consistent.
#[derive(Debug)]
pub(crate) struct Backend {
    /// Where the reply reader's dedicated connection is opened.
    pub(crate) endpoint: Endpoint,
    pub(crate) conn: SharedConnection,
    /// With replicated writes: where writes wait for their replicas.
    pub(crate) gates: Option<Gates>,
}

/// What the reply reader and the senders share.
#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) opts: RedisClientOptions,
    /// The connection, or why the options cannot give one (reported by `start`).
    backend: Result<Backend, String>,
    pub(crate) reply_stream: String,
    /// The largest reply id found trimmed unread: a call whose request id is below it may have
    /// lost its reply.
    pub(crate) lost_up_to: Mutex<SendMark>,
    /// Services whose consumer group was seen, and when.
    groups_seen: DashMap<String, Instant>,
    pub(crate) stats: ClientCounters,
}

impl ClientShared {
    pub(crate) fn backend(&self) -> Result<&Backend, Error> {
        self.backend
            .as_ref()
            .map_err(|why| TransportError::Config(why.clone()).into())
    }
}

#[derive(Debug)]
struct Reader {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Sends requests and notifications to Redis command streams and reads responses from this
/// client's reply stream. Use it as [`RedisRpcClient`].
#[derive(Debug)]
pub struct RedisClientTransport {
    shared: Arc<ClientShared>,
    reader: Mutex<Option<Reader>>,
    /// The core's waiting calls, from `start` on.
    replies: OnceLock<Replies>,
}

impl From<RedisClientOptions> for RedisClientTransport {
    fn from(opts: RedisClientOptions) -> Self {
        Self::new(opts)
    }
}

impl RedisClientTransport {
    /// A transport with these options. Nothing is contacted, and invalid options (see
    /// [`RedisClientOptions::validate`]) or an invalid URL are reported, by `start`.
    pub fn new(opts: RedisClientOptions) -> Self {
        let backend = opts
            .validate()
            .map_err(|e| e.to_string())
            .and_then(|()| opts.connection().resolve().map_err(|e| e.to_string()))
            .map(|endpoint| Backend {
                conn: SharedConnection::new(endpoint.clone(), opts.connection()),
                gates: opts
                    .connection()
                    .replicas()
                    .map(|r| Gates::new(r, endpoint.is_cluster())),
                endpoint,
            });
        Self {
            shared: Arc::new(ClientShared {
                reply_stream: keys::reply_stream(opts.key_prefix(), opts.instance_id()),
                backend,
                lost_up_to: Mutex::new((0, 0)),
                opts,
                groups_seen: DashMap::new(),
                stats: ClientCounters::default(),
            }),
            reader: Mutex::new(None),
            replies: OnceLock::new(),
        }
    }

    /// The options in use.
    pub fn options(&self) -> &RedisClientOptions {
        &self.shared.opts
    }

    /// This client's reply stream key.
    pub fn reply_stream(&self) -> &str {
        &self.shared.reply_stream
    }

    /// Counters since creation.
    pub fn stats(&self) -> ClientStats {
        self.shared.stats.snapshot()
    }

    /// Fails with `no server for service` when the service's command stream has no consumer
    /// group. A seen group is trusted for `group_check_ttl`, so a busy client checks rarely.
    async fn check_server(&self, service: &str) -> Result<(), Error> {
        let shared = &self.shared;
        if !shared.opts.fail_fast_without_server() {
            return Ok(());
        }
        if let Some(seen) = shared.groups_seen.get(service) {
            if seen.elapsed() < shared.opts.group_check_ttl() {
                return Ok(());
            }
        }
        let stream = keys::command_stream(shared.opts.key_prefix(), service);
        let group = keys::consumer_group_name(service);
        // A stream that does not exist has no groups (not an error).
        let found = match ops::groups(&shared.backend()?.conn, &stream).await {
            Ok(groups) => groups.iter().any(|g| g.name == group),
            // Cannot tell now (connection trouble, Redis loading, failing over): the XADD
            // retries and reports what persists.
            Err(e) if is_transient(&e) => return Ok(()),
            Err(e) => return Err(TransportError::backend("consumer group check failed", e).into()),
        };
        if found {
            shared
                .groups_seen
                .insert(service.to_owned(), Instant::now());
            Ok(())
        } else {
            bump(&shared.stats.no_server);
            Err(TransportError::NoServer {
                service: service.to_owned(),
            }
            .into())
        }
    }

    /// Writes an entry to the service's command stream and returns its id. Transient failures
    /// (a dropped connection, `LOADING`, `READONLY`, …) are retried with backoff until
    /// `give_up` (the caller's timeout also cancels the future). In the rare case an attempt
    /// landed but its answer was lost, the request runs twice, which at-least-once delivery
    /// allows anyway.
    async fn xadd(
        &self,
        service: &str,
        args: &[(&str, &str)],
        give_up: Instant,
    ) -> Result<String, Error> {
        let backend = self.shared.backend()?;
        let stream = keys::command_stream(self.shared.opts.key_prefix(), service);
        let Some(gates) = &backend.gates else {
            return self
                .xadd_once(&backend.conn, &stream, args, give_up)
                .await
                .map(|(_, id)| id);
        };
        let written = replication::write_replicated(&backend.conn, gates, &stream, give_up, || {
            self.xadd_once(&backend.conn, &stream, args, give_up)
        })
        .await;
        written.map_err(|e| match e {
            ReplicatedError::Write(e) => e,
            ReplicatedError::Wait(e) => TransportError::backend("redis wait failed", e).into(),
            ReplicatedError::NotReplicated(e) => {
                TransportError::backend("xadd not replicated", e).into()
            }
        })
    }

    /// One write of an entry, retried on transient failures (see [`xadd`](Self::xadd));
    /// returns the connection generation it landed over and the entry id.
    async fn xadd_once(
        &self,
        conn: &SharedConnection,
        stream: &str,
        args: &[(&str, &str)],
        give_up: Instant,
    ) -> Result<(u64, String), Error> {
        let mut backoff = Backoff::new(XADD_RETRY_FIRST, XADD_RETRY_MAX);
        loop {
            match ops::add_entry(conn, stream, args).await {
                Ok(written) => return Ok(written),
                Err(e) if is_transient(&e) && Instant::now() < give_up => {
                    tracing::warn!(error = %e, "redis xadd failed, retrying");
                    bump(&self.shared.stats.xadd_retries);
                    let pause = backoff.next_delay();
                    tokio::time::sleep(
                        pause.min(give_up.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
                Err(e) => return Err(TransportError::backend("xadd failed", e).into()),
            }
        }
    }
}

impl ClientTransport for RedisClientTransport {
    async fn start(&self, replies: Replies) -> Result<(), Error> {
        let conn = &self.shared.backend()?.conn;
        conn.get()
            .await
            .map_err(|e| TransportError::backend("redis connection failed", e))?;
        // A too-old Redis or a missing ACL permission is named here, not on the first call.
        let refused = |r: ops::preflight::Refusal| TransportError::Config(r.to_string());
        ops::preflight::check_version(conn)
            .await
            .map_err(|e| TransportError::backend("redis connection failed", e))?
            .map_err(refused)?;
        let cmds_probe = keys::command_stream(self.shared.opts.key_prefix(), "clamator-preflight");
        let probes = ops::preflight::client_probes(&self.shared.reply_stream, &cmds_probe);
        ops::preflight::check_permissions(conn, probes)
            .await
            .map_err(|e| TransportError::backend("redis permission check failed", e))?
            .map_err(refused)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(reply_reader::reply_loop(
            self.shared.clone(),
            replies.clone(),
            stop.clone(),
        ));
        *self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Reader { stop, task });
        // The core starts a transport once; a second value could not differ.
        let _ = self.replies.set(replies);
        Ok(())
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Option<Response>, Error> {
        let give_up = Instant::now() + timeout;
        self.check_server(&request.service).await?;
        let key = request.id.key().into_owned();
        let service = request.service.clone();
        let json = Envelope::Request(request).to_json();
        let timeout_ms = timeout.as_millis().to_string();
        let mut entry: Vec<(&str, &str)> = vec![
            (fields::TYPE, fields::TYPE_RPC),
            (fields::ENVELOPE, &json),
            (fields::REPLY_TO, &self.shared.reply_stream),
            (fields::TIMEOUT_MS, &timeout_ms),
        ];
        // Extra fields (peers ignore them): the caller's span, for the server to continue.
        let trace = telemetry::TraceContext::current();
        crate::telemetry::push_trace_fields(&mut entry, trace.as_ref());
        let id = self.xadd(&service, &entry, give_up).await?;
        bump(&self.shared.stats.requests);
        if let (Some(sent), Some(replies)) = (ops::parse_id(&id), self.replies.get()) {
            replies.mark_sent(&key, sent);
            // The reply loop may have found replies trimmed unread before the mark was set.
            let lost_up_to = *self
                .shared
                .lost_up_to
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if sent < lost_up_to {
                reply_lost::fail_one(&self.shared, replies, &key, lost_up_to);
            }
        }
        Ok(None)
    }

    async fn notify(&self, notification: Notification) -> Result<(), Error> {
        let service = notification.service.clone();
        let json = Envelope::Notification(notification).to_json();
        let give_up = Instant::now() + self.shared.opts.default_timeout();
        let mut entry: Vec<(&str, &str)> =
            vec![(fields::TYPE, fields::TYPE_RPC), (fields::ENVELOPE, &json)];
        let trace = telemetry::TraceContext::current();
        crate::telemetry::push_trace_fields(&mut entry, trace.as_ref());
        self.xadd(&service, &entry, give_up).await?;
        bump(&self.shared.stats.notifications);
        Ok(())
    }

    async fn stop(&self) {
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            reader.stop.cancel();
            let _ = reader.task.await;
        }
        let Ok(backend) = self.shared.backend() else {
            return;
        };
        let del = ops::delete(&backend.conn, &self.shared.reply_stream);
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), del).await {
            tracing::warn!(error = %e, "redis reply stream delete failed");
        }
        backend.conn.close();
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(self.shared.opts.default_timeout())
    }

    fn max_in_flight(&self) -> Option<usize> {
        Some(self.shared.opts.max_in_flight())
    }
}
