//! The consumer loop of one service: read as many new entries as there are free handler slots,
//! hand each to its own task, repeat. Full slots mean no read (backpressure).
//!
//! At start and after every reconnect the loop first reads this consumer's own pending list
//! (`XREADGROUP … 0`): a blocking read cut by a dropped connection may have had entries
//! assigned to it that never arrived, and reading only new entries (`>`) would strand them
//! until another server's claim idle passed, long after their callers gave up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::maintenance::{admit_redelivered, forget_deleted};
use super::{handle, sleep_or_cancel, ServiceCtx};
use crate::backoff::Backoff;
use crate::connection::{has_code, is_connection_error, open_blocking};
use crate::entry;
use crate::stats::bump;

pub(crate) async fn consumer_loop(ctx: Arc<ServiceCtx>) {
    let service = ctx.service;
    let mut backoff = Backoff::default();
    let mut reader: Option<MultiplexedConnection> = None;
    // Set after each (re)connect of the reader, before its first read: the old connection may
    // have been assigned entries until Redis saw it close.
    let mut own_pending_checked = true;
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
        let running = ctx.shared.opts.max_concurrent_handlers.saturating_sub(free);
        let count = ctx.shared.opts.read_count.max(running).min(free);
        let conn = match &reader {
            Some(c) => c.clone(),
            None => match connect_reader(&ctx).await {
                Ok(c) => {
                    reader = Some(c);
                    own_pending_checked = false;
                    continue;
                }
                Err(e) => {
                    tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
                    continue;
                }
            },
        };
        match read(&ctx, conn, count).await {
            Ok(value) => {
                backoff.reset();
                let (live, _) = entry::read_reply(&value);
                spawn_all(&ctx, live, first).await;
            }
            Err(e) if has_code(&e, "NOGROUP") => {
                // The group vanished (Redis restarted without persistence, or it was destroyed):
                // whatever the stream holds now was written since, for us, so start at 0.
                tracing::warn!(
                    service,
                    "redis consumer group missing, recreating: service={service}"
                );
                if let Err(e) = ctx.create_group("0").await {
                    tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    sleep_or_cancel(backoff.next_delay(), &ctx.run.intake).await;
                }
            }
            Err(e) => {
                tracing::error!(service, error = %e, "redis consumer loop error: service={service}");
                bump(&ctx.shared.stats.loop_errors);
                if is_connection_error(&e) {
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
        let cmd = read_group(ctx, OWN_PENDING_PAGE, None, &cursor);
        let value: Value = match ctx.shared.conn.query(&cmd).await {
            Ok(v) => v,
            // No group (yet): nothing can be pending; the read below recreates it.
            Err(e) if has_code(&e, "NOGROUP") => return Ok(()),
            Err(e) => return Err(e),
        };
        let (live, deleted) = entry::read_reply(&value);
        let last = live
            .iter()
            .map(|e| &e.id)
            .chain(&deleted)
            .max_by_key(|id| entry::parse_id(id))
            .cloned();
        let Some(last) = last else {
            return Ok(());
        };
        if !deleted.is_empty() {
            forget_deleted(ctx, &deleted).await?;
        }
        if !admit_redelivered(ctx, live, "own pending").await? {
            return Ok(());
        }
        cursor = last;
    }
}

/// `XREADGROUP GROUP <g> <consumer> COUNT n [BLOCK ms] STREAMS <stream> <from>`: `>` for new
/// entries, an id for this consumer's own pending ones after it.
fn read_group(ctx: &ServiceCtx, count: usize, block_ms: Option<u64>, from: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(&ctx.group)
        .arg(&ctx.consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(&ctx.stream).arg(from);
    cmd
}

/// Entries per page when reading the own pending list.
const OWN_PENDING_PAGE: usize = 64;

/// Starts one task per entry, each holding a handler slot.
async fn spawn_all(
    ctx: &Arc<ServiceCtx>,
    entries: Vec<entry::StreamEntry>,
    first: OwnedSemaphorePermit,
) {
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
            .spawn(handle::run_entry(ctx.clone(), e, permit));
    }
}

/// A dedicated connection for `XREADGROUP … BLOCK`; remembers its client id for unblocking.
async fn connect_reader(ctx: &ServiceCtx) -> Result<MultiplexedConnection, RedisError> {
    let opts = &ctx.shared.opts;
    let mut conn = open_blocking(&ctx.shared.client, opts.block, opts.command_timeout).await?;
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await?;
    ctx.reader_client_id.store(id, Ordering::Relaxed);
    Ok(conn)
}

/// `XREADGROUP GROUP <g> <consumer> COUNT n BLOCK ms STREAMS <stream> >`. When intake closes
/// the read is not dropped (Redis may already have assigned entries to it): it is unblocked
/// with `CLIENT UNBLOCK` and its result still handled.
async fn read(
    ctx: &ServiceCtx,
    mut conn: MultiplexedConnection,
    count: usize,
) -> Result<Value, RedisError> {
    let block_ms = u64::try_from(ctx.shared.opts.block.as_millis()).unwrap_or(u64::MAX);
    let cmd = read_group(ctx, count, Some(block_ms), ">");
    let fut = async move { cmd.query_async::<Value>(&mut conn).await };
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return r,
        () = ctx.run.intake.cancelled() => {}
    }
    loop {
        let id = ctx.reader_client_id.load(Ordering::Relaxed);
        if id > 0 {
            let _ = ctx
                .shared
                .conn
                .query::<Value>(redis::cmd("CLIENT").arg("UNBLOCK").arg(id))
                .await;
        }
        tokio::select! {
            r = &mut fut => return r,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
