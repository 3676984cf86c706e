//! The client side: [`RedisClientTransport`] (one multiplexed connection for writes, one reply
//! reader, a pending-call table) and the [`RedisRpcClient`] facade over the protocol's client
//! core.

mod reply_lost;
mod reply_reader;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clamator_protocol::contract::{Method, NotificationMethod};
use clamator_protocol::{
    ClientTransport, Envelope, Error, Notification, Request, Response, RpcClientCore, State,
    TransportError,
};
use dashmap::DashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::connection::{is_connection_error, is_transient, SharedConnection};
use crate::entry;
use crate::keys::{self, fields};
use crate::options::{resolve_client, RedisClientOptions};
use crate::stats::{bump, ClientCounters, ClientStats};

/// A call waiting for its response.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) tx: oneshot::Sender<Result<Response, Error>>,
    /// The request's entry id once `XADD` returned it: a reply to it can only have a later id,
    /// so a reply stream trimmed past it may have lost that reply.
    pub(crate) sent: Option<(u64, u64)>,
}

/// First and longest pause between attempts to write a request through a transient failure
/// (the call's own timeout bounds the whole).
const XADD_RETRY_FIRST: Duration = Duration::from_millis(20);
const XADD_RETRY_MAX: Duration = Duration::from_secs(1);

/// What the reply reader and the callers share.
#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) opts: RedisClientOptions,
    pub(crate) client: redis::Client,
    pub(crate) conn: SharedConnection,
    pub(crate) reply_stream: String,
    pub(crate) pending: DashMap<String, Waiter>,
    /// The largest reply id found trimmed unread: a call whose request id is below it may have
    /// lost its reply.
    pub(crate) lost_up_to: Mutex<(u64, u64)>,
    /// Calls allowed between `XADD` and their reply; see
    /// [`RedisClientOptions::with_max_in_flight`].
    in_flight: Semaphore,
    /// Services whose consumer group was seen, and when.
    groups_seen: DashMap<String, Instant>,
    pub(crate) stats: ClientCounters,
}

/// Removes a call's pending entry however the call ends (timeout, error, dropped future).
struct PendingGuard<'a> {
    shared: &'a ClientShared,
    key: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.pending.remove(&self.key);
    }
}

#[derive(Debug)]
struct Reader {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Sends requests and notifications to Redis command streams and reads responses from this
/// client's reply stream. Use it through [`RedisRpcClient`] (or an [`RpcClientCore`]).
#[derive(Debug)]
pub struct RedisClientTransport {
    shared: Arc<ClientShared>,
    state: Mutex<State>,
    reader: Mutex<Option<Reader>>,
}

impl RedisClientTransport {
    /// A transport with these options. Fails only on contradictory connection options or an
    /// invalid URL; Redis is contacted on start.
    pub fn new(opts: RedisClientOptions) -> Result<Self, Error> {
        let client = resolve_client(opts.redis.as_ref(), opts.redis_url.as_deref())?;
        let conn = SharedConnection::new(client.clone(), opts.command_timeout);
        Ok(Self {
            shared: Arc::new(ClientShared {
                reply_stream: keys::reply_stream(&opts.key_prefix, &opts.instance_id),
                in_flight: Semaphore::new(opts.max_in_flight),
                lost_up_to: Mutex::new((0, 0)),
                opts,
                client,
                conn,
                pending: DashMap::new(),
                groups_seen: DashMap::new(),
                stats: ClientCounters::default(),
            }),
            state: Mutex::new(State::Idle),
            reader: Mutex::new(None),
        })
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

    /// Calls waiting for a response now.
    pub fn pending_calls(&self) -> usize {
        self.shared.pending.len()
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_state(&self, s: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    fn ensure_started(&self) -> Result<(), Error> {
        match self.state() {
            State::Started => Ok(()),
            other => Err(TransportError::NotStarted(other).into()),
        }
    }

    /// Fails with `no server for service` when the service's command stream has no consumer
    /// group. A seen group is trusted for `group_check_ttl`, so a busy client checks rarely.
    async fn check_server(&self, service: &str) -> Result<(), Error> {
        let shared = &self.shared;
        if !shared.opts.fail_fast_without_server {
            return Ok(());
        }
        if let Some(seen) = shared.groups_seen.get(service) {
            if seen.elapsed() < shared.opts.group_check_ttl {
                return Ok(());
            }
        }
        let stream = keys::command_stream(&shared.opts.key_prefix, service);
        let group = keys::consumer_group_name(service);
        let info = shared
            .conn
            .query::<redis::Value>(redis::cmd("XINFO").arg("GROUPS").arg(&stream))
            .await;
        let found = match info {
            Ok(v) => entry::groups(&v).iter().any(|g| g.name == group),
            // "ERR no such key": the stream does not exist, so no group either.
            Err(e) if is_no_such_key(&e) => false,
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
        let stream = keys::command_stream(&self.shared.opts.key_prefix, service);
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&stream).arg("*");
        for (k, v) in args {
            cmd.arg(*k).arg(*v);
        }
        let mut backoff = Backoff::new(XADD_RETRY_FIRST, XADD_RETRY_MAX);
        loop {
            match self.shared.conn.query::<redis::Value>(&cmd).await {
                Ok(id) => return Ok(entry::string(&id).unwrap_or_default()),
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

/// `ERR no such key`, the answer to `XINFO` on a stream that does not exist.
fn is_no_such_key(e: &redis::RedisError) -> bool {
    !is_connection_error(e) && e.to_string().to_ascii_lowercase().contains("no such key")
}

impl ClientTransport for RedisClientTransport {
    async fn start(&self) -> Result<(), Error> {
        match self.state() {
            State::Started => return Ok(()),
            State::Stopped => return Err(TransportError::HasBeenStopped.into()),
            State::Idle => {}
        }
        self.shared
            .conn
            .get()
            .await
            .map_err(|e| TransportError::backend("redis connection failed", e))?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(reply_reader::reply_loop(self.shared.clone(), stop.clone()));
        *self.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(Reader { stop, task });
        self.set_state(State::Started);
        Ok(())
    }

    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, Error> {
        self.ensure_started()?;
        let give_up = Instant::now() + timeout;
        // The timer starts before the XADD, as the TypeScript peer's, and also covers the wait
        // for an in-flight slot.
        let call = async {
            let _slot = self
                .shared
                .in_flight
                .acquire()
                .await
                .map_err(|_| TransportError::Stopped)?;
            self.ensure_started()?;
            self.check_server(&request.service).await?;
            let key = request.id.key().into_owned();
            let (tx, rx) = oneshot::channel();
            self.shared
                .pending
                .insert(key.clone(), Waiter { tx, sent: None });
            let _guard = PendingGuard {
                shared: &self.shared,
                key: key.clone(),
            };
            let service = request.service.clone();
            let json = Envelope::Request(request).to_json();
            let timeout_ms = timeout.as_millis().to_string();
            let id = self
                .xadd(
                    &service,
                    &[
                        (fields::TYPE, fields::TYPE_RPC),
                        (fields::ENVELOPE, &json),
                        (fields::REPLY_TO, &self.shared.reply_stream),
                        (fields::TIMEOUT_MS, &timeout_ms),
                    ],
                    give_up,
                )
                .await?;
            let sent = entry::parse_id(&id);
            if let Some(mut waiting) = self.shared.pending.get_mut(&key) {
                waiting.sent = sent;
            }
            bump(&self.shared.stats.requests);
            // The reply loop may have found replies trimmed unread before `sent` was recorded.
            let lost_up_to = *self
                .shared
                .lost_up_to
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if sent.is_some_and(|sent| sent < lost_up_to) {
                reply_lost::fail_call(&self.shared, &key, lost_up_to);
            }
            match rx.await {
                Ok(result) => result,
                Err(_) => Err(TransportError::Stopped.into()),
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout.into()),
        }
    }

    async fn notify(&self, notification: Notification) -> Result<(), Error> {
        self.ensure_started()?;
        let service = notification.service.clone();
        let json = Envelope::Notification(notification).to_json();
        let give_up = Instant::now() + self.shared.opts.default_timeout;
        self.xadd(
            &service,
            &[(fields::TYPE, fields::TYPE_RPC), (fields::ENVELOPE, &json)],
            give_up,
        )
        .await?;
        bump(&self.shared.stats.notifications);
        Ok(())
    }

    async fn stop(&self) {
        if self.state() == State::Stopped {
            return;
        }
        let was_started = self.state() == State::Started;
        self.set_state(State::Stopped);
        let reader = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(reader) = reader {
            reader.stop.cancel();
            let _ = reader.task.await;
        }
        // Dropping the senders fails every pending call with `transport stopped`.
        self.shared.pending.clear();
        if was_started {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&self.shared.reply_stream);
            let del = self.shared.conn.query::<redis::Value>(&cmd);
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), del).await {
                tracing::warn!(error = %e, "redis reply stream delete failed");
            }
        }
        self.shared.conn.close();
    }
}

/// A clamator client over Redis Streams.
///
/// ```no_run
/// # async fn demo() -> Result<(), clamator_protocol::Error> {
/// use clamator_over_redis::{RedisClientOptions, RedisRpcClient};
/// use serde_json::json;
/// let client = RedisRpcClient::new(RedisClientOptions::new("app"))?;
/// client.start().await?;
/// let sum = client.call_raw("arith", "add", json!({"a": 2, "b": 3}), None).await?;
/// client.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisRpcClient {
    core: RpcClientCore<RedisClientTransport>,
}

impl RedisRpcClient {
    /// A client with these options (no I/O until [`start`](Self::start)).
    pub fn new(opts: RedisClientOptions) -> Result<Self, Error> {
        let timeout = opts.default_timeout;
        Ok(Self {
            core: RpcClientCore::new(RedisClientTransport::new(opts)?)
                .with_default_timeout(timeout),
        })
    }

    /// Connects and starts reading replies. Idempotent; fails after `stop`.
    pub async fn start(&self) -> Result<(), Error> {
        self.core.start().await
    }

    /// Fails pending calls with `transport stopped` and deletes the reply stream. Idempotent.
    pub async fn stop(&self) {
        self.core.stop().await;
    }

    /// Calls a typed method with the default timeout.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: Method<P, R>,
        params: &P,
    ) -> Result<R, Error> {
        self.core.call(method, params).await
    }

    /// Calls a typed method with its own timeout.
    pub async fn call_with_timeout<P: Serialize, R: DeserializeOwned>(
        &self,
        method: Method<P, R>,
        params: &P,
        timeout: Duration,
    ) -> Result<R, Error> {
        self.core.call_with_timeout(method, params, timeout).await
    }

    /// Sends a typed notification; resolves once Redis stored it.
    pub async fn notify<P: Serialize>(
        &self,
        method: NotificationMethod<P>,
        params: &P,
    ) -> Result<(), Error> {
        self.core.notify(method, params).await
    }

    /// Calls by name with JSON params; the result is not validated.
    pub async fn call_raw(
        &self,
        service: &str,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        self.core.call_raw(service, method, params, timeout).await
    }

    /// Sends a notification by name with JSON params.
    pub async fn notify_raw(
        &self,
        service: &str,
        method: &str,
        params: Value,
    ) -> Result<(), Error> {
        self.core.notify_raw(service, method, params).await
    }

    /// Counters since creation.
    pub fn stats(&self) -> ClientStats {
        self.core.transport().stats()
    }

    /// Lifecycle state.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// This client's reply stream key.
    pub fn reply_stream(&self) -> &str {
        self.core.transport().reply_stream()
    }

    /// The underlying core.
    pub fn core(&self) -> &RpcClientCore<RedisClientTransport> {
        &self.core
    }
}
