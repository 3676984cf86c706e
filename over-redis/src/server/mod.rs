//! The server side: [`RedisServerTransport`] (consumer and maintenance loops per service);
//! registration and lifecycle are the [`RpcServerCore`]'s, and [`RedisRpcServer`] is that core
//! over this transport.

mod consumer;
mod finisher;
mod handle;
mod maintenance;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_protocol::{Dispatcher, Error, RpcServerCore, ServerTransport, TransportError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{has_code, SharedConnection};
use crate::keys;
use crate::options::{resolve_client, RedisServerOptions};
use crate::stats::{ServerCounters, ServerStats};

/// What every loop of one server shares.
#[derive(Debug)]
pub(crate) struct ServerShared {
    pub(crate) opts: RedisServerOptions,
    pub(crate) client: redis::Client,
    pub(crate) conn: SharedConnection,
    pub(crate) stats: Arc<ServerCounters>,
    /// Redis clock minus local clock, in ms: entry ids carry Redis time.
    clock_offset_ms: AtomicI64,
}

impl ServerShared {
    /// Now, on Redis's clock (the clock of entry ids), in ms since the epoch.
    pub(crate) fn redis_now_ms(&self) -> i64 {
        local_now_ms() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the offset between Redis's clock and ours with `TIME`.
    pub(crate) async fn sync_clock(&self) -> Result<(), redis::RedisError> {
        let before = local_now_ms();
        let (secs, micros): (i64, i64) = self.conn.query(&redis::cmd("TIME")).await?;
        let after = local_now_ms();
        let redis_ms = secs * 1000 + micros / 1000;
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

/// Signals and task tracking of one started server.
#[derive(Debug, Default)]
pub(crate) struct RunControl {
    /// Cancelled by `close_intake`: stop reading and reclaiming.
    pub(crate) intake: CancellationToken,
    /// Cancelled by `stop`: handlers still running are dropped (their entries stay pending).
    pub(crate) abandon: CancellationToken,
    /// Every entry task, so `stop` can wait for replies being written.
    pub(crate) tracker: TaskTracker,
}

/// One service served by one server.
#[derive(Debug)]
pub(crate) struct ServiceCtx {
    pub(crate) shared: Arc<ServerShared>,
    pub(crate) run: Arc<RunControl>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) service: &'static str,
    pub(crate) stream: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
    pub(crate) dead: String,
    /// `<prefix>:replies:`: the only keys replies are written to.
    pub(crate) reply_prefix: String,
    /// Free handler slots; reading asks for at most this many entries.
    pub(crate) slots: Arc<Semaphore>,
    /// Entry ids taken by this server and not yet acknowledged (refreshed, never re-run here).
    running: Mutex<HashSet<String>>,
    /// `CLIENT ID` of the blocking read connection, for `CLIENT UNBLOCK` on close (0: none).
    pub(crate) reader_client_id: AtomicI64,
    /// Entries acknowledged since the last trim; at [`TRIM_BATCH`] the maintenance loop is
    /// woken to trim at once instead of waiting for its timer.
    pub(crate) acked_since_trim: AtomicUsize,
    /// Wakes the maintenance loop for a trim.
    pub(crate) trim_wanted: tokio::sync::Notify,
    /// Commits finished entries in batches.
    pub(crate) finisher: finisher::Finisher,
}

/// Acknowledged entries that trigger a trim before the trim interval elapses, bounding how
/// many acknowledged entries a busy stream holds.
pub(crate) const TRIM_BATCH: usize = 1024;

impl ServiceCtx {
    /// Records an entry as taken; false if it already is.
    pub(crate) fn mark_running(&self, id: &str) -> bool {
        self.running_set().insert(id.to_owned())
    }

    /// Counts acknowledged entries; every [`TRIM_BATCH`] of them asks for a trim.
    pub(crate) fn note_acked(&self, n: usize) {
        let before = self.acked_since_trim.fetch_add(n, Ordering::Relaxed);
        if before < TRIM_BATCH && before + n >= TRIM_BATCH {
            self.trim_wanted.notify_one();
        }
    }

    pub(crate) fn unmark_running(&self, id: &str) {
        self.running_set().remove(id);
    }

    pub(crate) fn is_running(&self, id: &str) -> bool {
        self.running_set().contains(id)
    }

    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.running_set().iter().cloned().collect()
    }

    fn running_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `XGROUP CREATE <stream> <group> <start> MKSTREAM`, `BUSYGROUP` tolerated.
    pub(crate) async fn create_group(&self, start_id: &str) -> Result<(), redis::RedisError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(start_id)
            .arg("MKSTREAM");
        match self.shared.conn.query::<()>(&cmd).await {
            Err(e) if has_code(&e, "BUSYGROUP") => Ok(()),
            other => other,
        }
    }
}

#[derive(Debug)]
struct Running {
    shared: Arc<ServerShared>,
    run: Arc<RunControl>,
    consumers: Vec<JoinHandle<()>>,
    maintenance: Vec<JoinHandle<()>>,
    stop_maintenance: CancellationToken,
}

/// Serves services from Redis command streams. Use it as [`RedisRpcServer`], whose core calls
/// `start` once and `stop` once.
#[derive(Debug)]
pub struct RedisServerTransport {
    opts: RedisServerOptions,
    stats: Arc<ServerCounters>,
    running: Mutex<Option<Running>>,
}

impl From<RedisServerOptions> for RedisServerTransport {
    fn from(opts: RedisServerOptions) -> Self {
        Self::new(opts)
    }
}

impl RedisServerTransport {
    /// A transport with these options. Nothing is contacted, and contradictory connection
    /// options or an invalid URL are reported, by `start`.
    pub fn new(opts: RedisServerOptions) -> Self {
        Self {
            opts,
            stats: Arc::new(ServerCounters::default()),
            running: Mutex::new(None),
        }
    }

    /// The options in use.
    pub fn options(&self) -> &RedisServerOptions {
        &self.opts
    }

    /// The instance id (consumer name suffix).
    pub fn instance_id(&self) -> &str {
        &self.opts.instance_id
    }

    /// Counters since creation.
    pub fn stats(&self) -> ServerStats {
        self.stats.snapshot()
    }

    fn take_consumers(&self) -> Option<(Arc<RunControl>, Vec<JoinHandle<()>>)> {
        let mut guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let running = guard.as_mut()?;
        Some((running.run.clone(), std::mem::take(&mut running.consumers)))
    }
}

impl ServerTransport for RedisServerTransport {
    async fn start(&self, dispatchers: Vec<Dispatcher>) -> Result<(), Error> {
        let client = resolve_client(self.opts.redis.as_ref(), self.opts.redis_url.as_deref())?;
        let shared = Arc::new(ServerShared {
            conn: SharedConnection::new(client.clone(), self.opts.command_timeout),
            client,
            opts: self.opts.clone(),
            stats: self.stats.clone(),
            clock_offset_ms: AtomicI64::new(0),
        });
        let opts = &shared.opts;
        let run = Arc::new(RunControl::default());
        let (ctxs, finisher_queues): (Vec<Arc<ServiceCtx>>, Vec<_>) = dispatchers
            .into_iter()
            .map(|dispatcher| {
                let service = dispatcher.service_name();
                let (finisher, queue) = finisher::Finisher::new();
                let ctx = Arc::new(ServiceCtx {
                    shared: shared.clone(),
                    run: run.clone(),
                    service,
                    stream: keys::command_stream(&opts.key_prefix, service),
                    group: keys::consumer_group_name(service),
                    consumer: keys::consumer_name(service, &opts.instance_id),
                    dead: keys::dead_letter_stream(&opts.key_prefix, service),
                    reply_prefix: keys::reply_stream_prefix(&opts.key_prefix),
                    slots: Arc::new(Semaphore::new(opts.max_concurrent_handlers)),
                    running: Mutex::new(HashSet::new()),
                    reader_client_id: AtomicI64::new(0),
                    acked_since_trim: AtomicUsize::new(0),
                    trim_wanted: tokio::sync::Notify::new(),
                    finisher,
                    dispatcher,
                });
                (ctx, queue)
            })
            .unzip();
        // Groups first: a failure here leaves nothing running, so start may be retried.
        for ctx in &ctxs {
            ctx.create_group(&opts.group_start_id)
                .await
                .map_err(|e| TransportError::backend("xgroup create failed", e))?;
        }
        if let Err(e) = shared.sync_clock().await {
            tracing::warn!(error = %e, "redis TIME failed; assuming a synchronised clock");
        }
        for (ctx, queue) in ctxs.iter().zip(finisher_queues) {
            finisher::spawn(ctx, queue);
        }
        let stop_maintenance = CancellationToken::new();
        let consumers = ctxs
            .iter()
            .map(|c| tokio::spawn(consumer::consumer_loop(c.clone())))
            .collect();
        let maintenance = ctxs
            .iter()
            .map(|c| {
                tokio::spawn(maintenance::maintenance_loop(
                    c.clone(),
                    stop_maintenance.clone(),
                ))
            })
            .collect();
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running {
            shared,
            run,
            consumers,
            maintenance,
            stop_maintenance,
        });
        Ok(())
    }

    async fn close_intake(&self) {
        let Some((run, consumers)) = self.take_consumers() else {
            return;
        };
        run.intake.cancel();
        // Each loop hands the entries of its last read to handlers, then exits.
        for handle in consumers {
            let _ = handle.await;
        }
    }

    async fn stop(&self) {
        self.close_intake().await;
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(running) = running {
            running.run.abandon.cancel();
            running.stop_maintenance.cancel();
            running.run.tracker.close();
            let grace = self.opts.shutdown_grace;
            if tokio::time::timeout(grace, running.run.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!("redis server stop: replies still being written after the grace");
            }
            for handle in running.maintenance {
                handle.abort();
                let _ = handle.await;
            }
            running.shared.conn.close();
        }
    }
}

/// A clamator server over Redis Streams: the protocol's server core over
/// [`RedisServerTransport`]. Build it from options; nothing is contacted before `start`.
///
/// ```no_run
/// # async fn demo(service: clamator_protocol::Service) -> Result<(), clamator_protocol::Error> {
/// use clamator_over_redis::{RedisRpcServer, RedisServerOptions};
/// let server = RedisRpcServer::new(RedisServerOptions::new("app"));
/// server.register_service(service)?;
/// server.start().await?;
/// println!("{} handled so far", server.transport().stats().dispatched);
/// server.stop(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
pub type RedisRpcServer = RpcServerCore<RedisServerTransport>;

/// Sleeps `d`, or less if `token` is cancelled.
pub(crate) async fn sleep_or_cancel(d: Duration, token: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = token.cancelled() => {}
    }
}
