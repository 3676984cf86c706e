//! The consumer loop of one service: read as many new entries as there are free handler slots,
//! hand each to its own task, repeat. Full slots mean no read (backpressure).
//!
//! At start and after every reconnect the loop first reads this consumer's own pending list
//! (`XREADGROUP … 0`): a blocking read cut by a dropped connection may have had entries
//! assigned to it that never arrived, and reading only new entries (`>`) would strand them
//! until another server's claim idle passed, long after their callers gave up.

use std::sync::Arc;
use std::time::Duration;

use redis::RedisError;
use tokio::sync::OwnedSemaphorePermit;

use super::control::sleep_or_cancel;
use super::handle;
use super::maintenance::{admit_redelivered, forget_deleted};
use super::service::ServiceCtx;
use crate::backoff::Backoff;
use crate::connection::{has_code, must_reconnect, open_blocking};
use crate::ops::{self, Dedicated, Entries, StreamEntry};
use crate::stats::bump;

/// The dedicated connection of the blocking reads, and its `CLIENT ID` for `CLIENT UNBLOCK`.
struct Reader {
    conn: Dedicated,
    /// `None` when the ACL denies `CLIENT ID`: stop then closes the connection instead.
    client_id: Option<i64>,
}

pub(crate) async fn consumer_loop(ctx: Arc<ServiceCtx>) {
    let service = ctx.service;
    let opts = &ctx.shared.opts;
    let mut backoff = Backoff::reconnect(opts.connection());
    let mut reader: Option<Reader> = None;
    // Set after each (re)connect of the reader, before its first read: the old connection may
    // have been assigned entries until Redis saw it close.
    let mut own_pending_checked = true;
    let mut connected_before = false;
    while !ctx.run.intake.is_cancelled() {
        if !own_pending_checked {
            match read_own_pending(&ctx).await {
                Ok(()) => own_pending_checked = true,
                Err(e) => {
                    tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
                    continue;
                }
            }
        }
        let first = tokio::select! {
            permit = ctx.slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = ctx.run.intake.cancelled() => break,
        };
        // An idle server reads `read_count` entries (the peer's 16), so a burst spreads over a
        // pool; a busy one reads as many as it is already running, halving reads per call under
        // load. Never more than the free handler slots.
        let free = 1 + ctx.slots.available_permits();
        let running = opts.max_concurrent_handlers().saturating_sub(free);
        let count = opts.read_count().max(running).min(free);
        let Some(r) = &reader else {
            match connect_reader(&ctx).await {
                Ok(r) => {
                    reader = Some(r);
                    own_pending_checked = false;
                    if std::mem::replace(&mut connected_before, true) {
                        crate::metrics::reconnect(crate::metrics::Conn::ServerReader);
                    }
                }
                Err(e) => {
                    tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
                }
            }
            continue;
        };
        match read(&ctx, r, count).await {
            Ok(read) => {
                backoff.reset();
                spawn_all(&ctx, read.live, first).await;
            }
            Err(e) if has_code(&e, "UNBLOCKED") => {
                // Redis ended the read because its key moved away (a cluster slot migration)
                // or the node changed role: read again, the cluster connection follows the
                // MOVED and a demoted node's READONLY replaces the connection.
                tracing::debug!(service, error = %e, "redis read unblocked: service={service}");
            }
            Err(e) if ops::is_no_group(&e) => {
                // The group vanished (Redis restarted without persistence, or it was destroyed):
                // whatever the stream holds now was written since, for us, so start at 0.
                tracing::warn!(
                    service,
                    "redis consumer group missing, recreating: service={service}"
                );
                let give_up =
                    std::time::Instant::now() + ctx.shared.opts.connection().command_timeout();
                if let Err(e) = ctx.shared.create_group(&ctx.keys, "0", give_up).await {
                    tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
                }
            }
            Err(e) => {
                tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                bump(&ctx.shared.stats.loop_errors);
                if must_reconnect(&e) {
                    reader = None;
                }
                sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
            }
        }
    }
}

/// Reads this consumer's own pending list from the start, a page at a time, and runs every
/// entry not already running here (dead-lettering those delivered too often).
async fn read_own_pending(ctx: &Arc<ServiceCtx>) -> Result<(), RedisError> {
    let mut cursor = "0".to_owned();
    loop {
        let page = ops::read_group(&ctx.shared.conn, &ctx.keys, OWN_PENDING_PAGE, None, &cursor);
        let read = match page.await {
            Ok(read) => read,
            // No group (yet): nothing can be pending; the read below recreates it.
            Err(e) if ops::is_no_group(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(last) = read.last_id().cloned() else {
            return Ok(());
        };
        let Entries { live, deleted } = read;
        if !deleted.is_empty() {
            forget_deleted(ctx, &deleted).await?;
        }
        if !admit_redelivered(ctx, live, "own pending").await? {
            return Ok(());
        }
        cursor = last;
    }
}

/// Entries per page when reading the own pending list.
const OWN_PENDING_PAGE: usize = 64;

/// Starts one task per newly delivered entry, each holding a handler slot.
async fn spawn_all(ctx: &Arc<ServiceCtx>, entries: Vec<StreamEntry>, first: OwnedSemaphorePermit) {
    let mut first = Some(first);
    for e in entries {
        bump(&ctx.shared.stats.received);
        let permit = match first.take() {
            Some(p) => p,
            // A reclaim may have taken a slot meanwhile: the entry waits for the next free one.
            None => match ctx.slots.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        ctx.mark_running(&e.id);
        ctx.run
            .tracker
            .spawn(handle::run_entry(ctx.clone(), e, 1, permit));
    }
}

/// A dedicated connection for `XREADGROUP … BLOCK`, with its client id for unblocking.
async fn connect_reader(ctx: &ServiceCtx) -> Result<Reader, RedisError> {
    let opts = &ctx.shared.opts;
    let conn = open_blocking(&ctx.shared.endpoint, opts.connection(), opts.block()).await?;
    let conn = Dedicated(conn);
    let client_id = match ops::client_id(&conn, &ctx.keys.stream).await {
        Ok(id) => Some(id),
        Err(e) if has_code(&e, "NOPERM") => None,
        Err(e) => return Err(e),
    };
    Ok(Reader { conn, client_id })
}

/// `XREADGROUP … BLOCK ms STREAMS <stream> >`. When intake closes the read is not dropped
/// (Redis may already have assigned entries to it): it is unblocked with `CLIENT UNBLOCK` and
/// its result still handled. Where the ACL denies `CLIENT ID` or `CLIENT UNBLOCK`, the read is
/// abandoned at once instead of waiting out `BLOCK`: entries Redis assigned to it stay in this
/// consumer's pending list, where the own-pending re-read and `XAUTOCLAIM` find them (at least
/// once holds either way).
async fn read(ctx: &ServiceCtx, reader: &Reader, count: usize) -> Result<Entries, RedisError> {
    let block_ms = ops::millis(ctx.shared.opts.block());
    let fut = ops::read_group(&reader.conn, &ctx.keys, count, Some(block_ms), ">");
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return r,
        () = ctx.run.intake.cancelled() => {}
    }
    let Some(client_id) = reader.client_id else {
        return Ok(Entries::default());
    };
    loop {
        if let Err(e) = ops::client_unblock(&ctx.shared.conn, client_id, &ctx.keys.stream).await {
            if has_code(&e, "NOPERM") {
                return Ok(Entries::default());
            }
        }
        tokio::select! {
            r = &mut fut => return r,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
