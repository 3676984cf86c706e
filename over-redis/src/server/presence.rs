//! Presence of a started server: one record per service (`<prefix>:presence:<service>:<id>`,
//! JSON [`Instance`], `PX` TTL) renewed by a heartbeat and indexed in
//! `<prefix>:presence:<service>` (instance → expiry) and `<prefix>:presence` (service →
//! expiry); withdrawn at stop. Also the removal of dead consumers: a consumer of this service
//! whose instance published presence here, whose record has expired, and whose pending list is
//! empty. Consumers that never published presence (peers, older servers) are never candidates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clamator_protocol::{Instance, MethodInfo, Response};
use redis::RedisError;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::service::ServiceCtx;
use super::shared::ServerShared;
use crate::connection::is_connection_error;
use crate::keys;
use crate::ops::millis;
use crate::ops::presence::{self as ops, Beat, PresenceKeys, Removal};
use crate::presence::INDEX_RETENTION;
use crate::stats::bump;

/// Per-service counts published with presence.
#[derive(Debug, Default)]
pub(crate) struct PresenceCounts {
    handled: AtomicU64,
    errors: AtomicU64,
}

impl PresenceCounts {
    /// One entry handled; an error response counts as an error too.
    pub(crate) fn note(&self, response: Option<&Response>) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if response.is_some_and(|r| r.outcome.is_err()) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Served {
    ctx: Arc<ServiceCtx>,
    keys: PresenceKeys,
    methods: Vec<MethodInfo>,
}

/// What a server publishes, for all its services.
pub(crate) struct Presence {
    shared: Arc<ServerShared>,
    served: Vec<Served>,
    started_at_ms: i64,
    host: String,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("services", &self.served.len())
            .finish_non_exhaustive()
    }
}

impl Presence {
    pub(crate) fn new(shared: Arc<ServerShared>, ctxs: &[Arc<ServiceCtx>]) -> Self {
        let prefix = shared.opts.key_prefix();
        let id = shared.opts.instance_id();
        let served = ctxs
            .iter()
            .map(|ctx| Served {
                keys: presence_keys(prefix, ctx.service, id),
                methods: MethodInfo::of_service(ctx.dispatcher.service()),
                ctx: ctx.clone(),
            })
            .collect();
        Self {
            started_at_ms: shared.redis_now_ms(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            served,
            shared,
        }
    }

    fn record(&self, s: &Served, now_ms: i64) -> Instance {
        let ttl_ms = millis(self.shared.opts.presence().ttl());
        let mut instance = Instance::new(s.ctx.service, self.shared.opts.instance_id());
        instance.host.clone_from(&self.host);
        instance.pid = std::process::id();
        instance.version = env!("CARGO_PKG_VERSION").to_owned();
        instance.started_at_ms = self.started_at_ms;
        instance.heartbeat_at_ms = now_ms;
        instance.ttl_ms = ttl_ms;
        instance.methods.clone_from(&s.methods);
        instance.in_flight = s.ctx.running_count() as u64;
        instance.handled = s.ctx.presence.handled.load(Ordering::Relaxed);
        instance.errors = s.ctx.presence.errors.load(Ordering::Relaxed);
        instance
    }

    /// One heartbeat of every service, in one round trip.
    pub(crate) async fn beat(&self) -> Result<(), RedisError> {
        let now = self.shared.redis_now_ms();
        let ttl_ms = millis(self.shared.opts.presence().ttl());
        let mut pipe = redis::pipe();
        for s in &self.served {
            let json = serde_json::to_string(&self.record(s, now)).unwrap_or_default();
            let beat = Beat {
                record_json: &json,
                ttl_ms,
                expires_at_ms: now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
                index_retention_ms: millis(INDEX_RETENTION),
            };
            ops::push_beat(&mut pipe, &s.keys, beat);
        }
        ops::pipe_per_key(&self.shared.conn, &pipe).await.map(drop)
    }

    /// Removes every record at once (stop), leaving the index members expired.
    pub(crate) async fn withdraw(&self) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        for s in &self.served {
            ops::push_withdraw(&mut pipe, &s.keys);
        }
        ops::pipe_per_key(&self.shared.conn, &pipe).await.map(drop)
    }
}

pub(crate) fn presence_keys(prefix: &str, service: &str, instance_id: &str) -> PresenceKeys {
    PresenceKeys {
        services: keys::presence_services(prefix),
        instances: keys::presence_instances(prefix, service),
        record: keys::presence_record(prefix, service, instance_id),
        service: service.to_owned(),
        instance_id: instance_id.to_owned(),
    }
}

/// Longest a stop waits for its presence to be withdrawn.
const WITHDRAW_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The heartbeat loop: renews every `heartbeat` until intake closes (stop), then withdraws.
pub(crate) fn spawn(
    presence: Arc<Presence>,
    run: Arc<super::control::RunControl>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = presence.shared.opts.presence().heartbeat();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = run.intake.cancelled() => break,
                _ = tick.tick() => {}
            }
            let beat = tokio::select! {
                () = run.intake.cancelled() => break,
                r = presence.beat() => r,
            };
            if let Err(e) = beat {
                tracing::warn!(error = %e, "redis presence heartbeat failed");
                bump(&presence.shared.stats.loop_errors);
            }
        }
        // Bounded: with Redis unreachable, stop must not wait a command timeout for this; the
        // records then expire after their TTL.
        let why = match tokio::time::timeout(WITHDRAW_LIMIT, presence.withdraw()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(error = %why, "redis presence withdraw failed; records expire after their ttl");
    })
}

/// Most expired instances examined per pass.
const PRUNE_PAGE: usize = 64;

/// Removes consumers of dead instances of this service (see the module docs). Refusals (an ACL
/// user without the commands, `LOADING`) only skip the pass: removal is housekeeping.
pub(crate) async fn prune_dead_consumers(ctx: &ServiceCtx) -> Result<(), RedisError> {
    let opts = &ctx.shared.opts;
    if !opts.presence().enabled() || ctx.run.intake.is_cancelled() {
        return Ok(());
    }
    match prune(ctx).await {
        Err(e) if !is_connection_error(&e) => {
            let service = ctx.service;
            tracing::debug!(service, error = %e, "redis dead-consumer removal refused");
            Ok(())
        }
        other => other,
    }
}

async fn prune(ctx: &ServiceCtx) -> Result<(), RedisError> {
    let opts = &ctx.shared.opts;
    let conn = &ctx.shared.conn;
    let prefix = opts.key_prefix();
    let index = keys::presence_instances(prefix, ctx.service);
    let now = ctx.shared.redis_now_ms();
    // An instance still reading has been idle at most its block time; one whose record expired
    // a TTL ago has not read for about that long.
    let min_idle = millis(opts.presence().ttl() / 2);
    for id in ops::expired_members(conn, &index, now, PRUNE_PAGE).await? {
        if id == opts.instance_id() {
            continue;
        }
        // Re-check right before: an instance that came back (same id) is not dead.
        if ops::record_exists(conn, &keys::presence_record(prefix, ctx.service, &id)).await? {
            continue;
        }
        let consumer = keys::consumer_name(ctx.service, &id);
        let removal =
            ops::delete_idle_consumer(conn, &ctx.keys.stream, &ctx.keys.group, &consumer, min_idle)
                .await?;
        let service = ctx.service;
        match removal {
            Removal::Deleted => {
                tracing::info!(
                    service,
                    consumer,
                    "redis dead consumer removed: service={service} consumer={consumer}"
                );
                bump(&ctx.shared.stats.dead_consumers_removed);
                ops::remove_member(conn, &index, &id).await?;
            }
            Removal::Absent => ops::remove_member(conn, &index, &id).await?,
            Removal::Kept => {} // pending entries: reclaimed first, removed on a later pass
        }
    }
    Ok(())
}

/// With [`report_missing_subscriber`](crate::RedisServerOptions::with_report_missing_subscriber),
/// says once on stderr that this server's logs go nowhere.
pub(crate) fn report_missing_subscriber(enabled: bool) {
    let silent = tracing::dispatcher::get_default(
        tracing::Dispatch::is::<tracing::subscriber::NoSubscriber>,
    );
    if enabled && silent {
        eprintln!(
            "clamator-over-redis: no tracing subscriber is installed, so this server's logs are \
             dropped; install one, e.g. tracing_subscriber::fmt().with_env_filter(\
             EnvFilter::from_default_env()).init(), and set RUST_LOG=clamator_over_redis=info"
        );
    }
}
