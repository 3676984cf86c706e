//! The server side: [`RedisServerTransport`] (consumer, maintenance and finisher tasks per
//! service); registration and lifecycle are the [`RpcServerCore`]'s, and [`RedisRpcServer`] is
//! that core over this transport.
//!
//! One concern per module: [`shared`] (what every loop of a started server shares),
//! [`control`] (shutdown signals), [`service`] (the per-service context), [`consumer`]
//! (reading), [`handle`] (one entry, decode to outcome), [`finisher`] (commit of outcomes),
//! [`maintenance`] (refresh, reclaim, dead-letter, trim, dead consumers), [`presence`]
//! (heartbeat for `discover()`). Entries flow one way:
//! consumer or maintenance → handle → finisher → Redis. This module starts and stops them.

mod consumer;
mod control;
mod finisher;
mod handle;
mod maintenance;
mod presence;
mod service;
mod shared;

use std::sync::{Arc, Mutex};

use clamator_protocol::{Dispatcher, Error, RpcServerCore, ServerTransport, TransportError};
use tokio::task::JoinHandle;

use self::control::RunControl;
use self::service::ServiceCtx;
use self::shared::ServerShared;
use crate::ops;
use crate::options::RedisServerOptions;
use crate::replication::ReplicatedError;
use crate::stats::{ServerCounters, ServerStats};

/// The tasks of a started server.
#[derive(Debug)]
struct Running {
    shared: Arc<ServerShared>,
    run: Arc<RunControl>,
    consumers: Vec<JoinHandle<()>>,
    maintenance: Vec<JoinHandle<()>>,
    /// The heartbeat, which withdraws the presence when intake closes.
    presence: Option<JoinHandle<()>>,
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
    /// A transport with these options. Nothing is contacted, and invalid options (see
    /// [`RedisServerOptions::validate`]) are reported, by `start`.
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
        self.opts.instance_id()
    }

    /// Counters since creation.
    pub fn stats(&self) -> ServerStats {
        self.stats.snapshot()
    }

    fn take_consumers(&self) -> Option<(Arc<RunControl>, Vec<JoinHandle<()>>)> {
        let mut guard = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let running = guard.as_mut()?;
        let mut tasks = std::mem::take(&mut running.consumers);
        tasks.extend(running.presence.take());
        Some((running.run.clone(), tasks))
    }
}

impl ServerTransport for RedisServerTransport {
    async fn start(&self, dispatchers: Vec<Dispatcher>) -> Result<(), Error> {
        self.opts
            .validate()
            .map_err(|e| TransportError::Config(e.to_string()))?;
        let client = self.opts.connection().resolve()?;
        let shared = Arc::new(ServerShared::new(
            self.opts.clone(),
            client,
            self.stats.clone(),
        ));
        let run = Arc::new(RunControl::default());
        let (ctxs, finisher_queues): (Vec<Arc<ServiceCtx>>, Vec<_>) = dispatchers
            .into_iter()
            .map(|dispatcher| {
                let (finisher, queue) = finisher::Finisher::new();
                let ctx = ServiceCtx::new(shared.clone(), run.clone(), dispatcher, finisher);
                (Arc::new(ctx), queue)
            })
            .unzip();
        // Checks and groups first: a failure here leaves nothing running, so start may be
        // retried. A too-old Redis or a missing ACL permission is named here, not in a loop.
        let refused = |r: ops::preflight::Refusal| TransportError::Config(r.to_string());
        ops::preflight::check_version(&shared.conn)
            .await
            .map_err(|e| TransportError::backend("redis connection failed", e))?
            .map_err(refused)?;
        let start_id = shared.opts.group_start_id();
        let reply_probe = crate::keys::reply_stream(shared.opts.key_prefix(), "clamator-preflight");
        for ctx in &ctxs {
            let give_up = std::time::Instant::now() + shared.opts.connection().command_timeout();
            shared
                .create_group(&ctx.keys, start_id, give_up)
                .await
                .map_err(|e| match e {
                    ReplicatedError::Write(e) => group_create_failed(e),
                    ReplicatedError::Wait(e) => {
                        TransportError::backend("redis wait after xgroup create failed", e)
                    }
                    ReplicatedError::NotReplicated(e) => {
                        TransportError::backend("xgroup create not replicated", e)
                    }
                })?;
            let probes = ops::preflight::server_probes(&ctx.keys, &reply_probe, &ctx.dead);
            ops::preflight::check_permissions(&shared.conn, probes)
                .await
                .map_err(|e| TransportError::backend("redis permission check failed", e))?
                .map_err(refused)?;
        }
        if let Err(e) = shared.sync_clock().await {
            tracing::warn!(error = %e, "redis TIME failed; assuming a synchronised clock");
        }
        presence::report_missing_subscriber(shared.opts.report_missing_subscriber());
        // Presence before the first read, so a server that serves is discoverable; an ACL user
        // without the presence commands is named here (or presence is turned off).
        let presence = if shared.opts.presence().enabled() {
            let p = Arc::new(presence::Presence::new(shared.clone(), &ctxs));
            p.beat().await.map_err(|e| {
                if crate::connection::has_code(&e, "NOPERM") {
                    TransportError::Config(format!(
                        "redis refused the presence heartbeat ({e}); grant the README's server \
                         ACL line or use PresenceOptions::disabled()"
                    ))
                } else {
                    TransportError::backend("redis presence heartbeat failed", e)
                }
            })?;
            Some(presence::spawn(p, run.clone()))
        } else {
            None
        };
        for (ctx, queue) in ctxs.iter().zip(finisher_queues) {
            finisher::spawn(ctx, queue);
        }
        let consumers = ctxs
            .iter()
            .map(|c| tokio::spawn(consumer::consumer_loop(c.clone())))
            .collect();
        let maintenance = ctxs
            .iter()
            .map(|c| tokio::spawn(maintenance::maintenance_loop(c.clone())))
            .collect();
        *self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Running {
            shared,
            run,
            consumers,
            maintenance,
            presence,
        });
        Ok(())
    }

    async fn close_intake(&self) {
        let Some((run, consumers)) = self.take_consumers() else {
            return;
        };
        run.intake.cancel();
        // Each loop hands the entries of its last read to handlers, then exits; the heartbeat
        // withdraws this server's presence.
        for handle in consumers {
            let _ = handle.await;
        }
    }

    async fn stop(&self) {
        self.close_intake().await;
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.run.abandon.cancel();
            running.run.maintenance.cancel();
            running.run.tracker.close();
            let grace = self.opts.shutdown_grace();
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

/// Why `start` could not create a consumer group: a denied permission is named (with the
/// command), anything else is a backend failure.
fn group_create_failed(e: redis::RedisError) -> TransportError {
    if crate::connection::has_code(&e, "NOPERM") {
        TransportError::Config(
            ops::preflight::Refusal::Denied {
                command: "XGROUP CREATE".into(),
                message: e.to_string(),
            }
            .to_string(),
        )
    } else {
        TransportError::backend("xgroup create failed", e)
    }
}
