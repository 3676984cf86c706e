//! The maintenance loop of one service: keep this server's running entries from looking idle,
//! reclaim entries of dead consumers (following the XAUTOCLAIM cursor to the end), dead-letter
//! entries delivered too often, trim acknowledged entries left by peers, resync the clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Envelope, Response, RpcError};
use redis::RedisError;
use serde_json::json;
use tokio::time::MissedTickBehavior;

use super::control::sleep_or_cancel;
use super::handle;
use super::service::ServiceCtx;
use crate::backoff::Backoff;
use crate::codes;
use crate::connection::is_connection_error;
use crate::keys::fields;
use crate::ops::{self, DeadLetter, StreamEntry};
use crate::stats::bump;

/// Most entries claimed per XAUTOCLAIM page (the peer's page size).
const CLAIM_PAGE: usize = 32;

pub(crate) async fn maintenance_loop(ctx: Arc<ServiceCtx>) {
    let service = ctx.service;
    let opts = &ctx.shared.opts;
    let stop = &ctx.run.maintenance;
    let mut refresh = tokio::time::interval((opts.claim_idle() / 3).max(Duration::from_millis(10)));
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reclaim = tokio::time::interval(opts.effective_reclaim_interval());
    reclaim.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut trim = tokio::time::interval(opts.trim_interval());
    trim.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(opts.presence().ttl());
    prune.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut backoff = Backoff::reconnect(opts.connection());
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => break,
            _ = refresh.tick() => refresh_running(&ctx).await,
            _ = reclaim.tick() => reclaim_and_resync(&ctx).await,
            _ = trim.tick() => trim_acknowledged(&ctx).await,
            () = ctx.trim.wanted() => trim_acknowledged(&ctx).await,
            _ = prune.tick() => super::presence::prune_dead_consumers(&ctx).await,
        };
        match result {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::error!(service, error = %e, "redis reclaim loop error: service={service}");
                bump(&ctx.shared.stats.loop_errors);
                sleep_or_cancel(backoff.next_delay(), stop).await;
            }
        }
    }
}

/// `XCLAIM … JUSTID` on the entries this server holds: resets their idle time without
/// counting a delivery, so no other server reclaims work that is still running.
async fn refresh_running(ctx: &ServiceCtx) -> Result<(), RedisError> {
    let ids = ctx.running_ids();
    if ids.is_empty() {
        return Ok(());
    }
    ops::claim_justid(&ctx.shared.conn, &ctx.keys, &ids).await?;
    for _ in &ids {
        bump(&ctx.shared.stats.refreshed);
    }
    Ok(())
}

async fn reclaim_and_resync(ctx: &Arc<ServiceCtx>) -> Result<(), RedisError> {
    if !ctx.run.intake.is_cancelled() {
        reclaim(ctx).await?;
    }
    #[cfg(feature = "metrics")]
    sample_group(ctx).await;
    ctx.shared.sync_clock().await
}

/// `clamator_group_lag` / `clamator_group_pending` from `XINFO GROUPS`, once per reclaim
/// round. A failure (an ACL without `XINFO`) only leaves the gauges stale: it is not a loop
/// error, the loop's real work is done.
#[cfg(feature = "metrics")]
async fn sample_group(ctx: &ServiceCtx) {
    match ops::groups(&ctx.shared.conn, &ctx.keys.stream).await {
        Ok(groups) => {
            if let Some(g) = groups.iter().find(|g| g.name == ctx.keys.group) {
                crate::metrics::group(ctx.service, g.lag, g.pending);
            }
        }
        Err(e) => {
            let service = ctx.service;
            tracing::debug!(service, error = %e, "redis XINFO GROUPS for metrics failed: service={service}");
        }
    }
}

/// XAUTOCLAIM pages until the cursor returns to `0-0` or no handler slot is free.
async fn reclaim(ctx: &Arc<ServiceCtx>) -> Result<(), RedisError> {
    let min_idle = ops::millis(ctx.shared.opts.claim_idle());
    let mut cursor = "0-0".to_owned();
    loop {
        let free = ctx.slots.available_permits();
        if free == 0 || ctx.run.intake.is_cancelled() {
            return Ok(());
        }
        let count = free.min(CLAIM_PAGE);
        let page = ops::autoclaim(&ctx.shared.conn, &ctx.keys, min_idle, &cursor, count).await?;
        let last_page = page.is_last_page();
        let ops::Entries { live, deleted } = page.entries;
        if !deleted.is_empty() {
            forget_deleted(ctx, &deleted).await?;
        }
        if !admit_redelivered(ctx, live, "reclaimed").await? {
            return Ok(());
        }
        if last_page {
            return Ok(());
        }
        cursor = page.next;
    }
}

/// Runs entries delivered before (reclaimed from another consumer, or found in this
/// consumer's own pending list after a reconnect): dead-letters those delivered more than
/// `max_deliveries` times, skips those already running here, and starts the others, each
/// with a handler slot (waiting for one if needed). False when the service stopped meanwhile.
pub(crate) async fn admit_redelivered(
    ctx: &Arc<ServiceCtx>,
    live: Vec<StreamEntry>,
    how: &'static str,
) -> Result<bool, RedisError> {
    if live.is_empty() {
        return Ok(true);
    }
    let deliveries = deliveries_of(ctx, &live).await?;
    for e in live {
        if ctx.is_running(&e.id) {
            continue; // still running here; a claim only refreshed it
        }
        let n = deliveries.get(&e.id).copied().unwrap_or(1);
        if n > ctx.shared.opts.max_deliveries() {
            dead_letter(ctx, &e, n).await?;
            continue;
        }
        let Ok(permit) = ctx.slots.clone().acquire_owned().await else {
            return Ok(false);
        };
        let service = ctx.service;
        let id = &e.id;
        tracing::info!(service, entry_id = %id, deliveries = n, how,
            "redis entry redelivered: service={service} entry={id}");
        if how == "reclaimed" {
            bump(&ctx.shared.stats.reclaimed);
            crate::metrics::reclaimed(service);
        } else {
            bump(&ctx.shared.stats.own_pending_reread);
        }
        ctx.mark_running(&e.id);
        ctx.run
            .tracker
            .spawn(handle::run_entry(ctx.clone(), e, n, permit));
    }
    Ok(true)
}

/// Entries deleted from the stream while pending: nothing to run; make sure they leave the
/// pending list (Redis 7 already drops them, 6.2 does not).
pub(crate) async fn forget_deleted(ctx: &ServiceCtx, ids: &[String]) -> Result<(), RedisError> {
    let service = ctx.service;
    tracing::warn!(
        service,
        count = ids.len(),
        "redis pending entries were deleted from the stream: service={service}"
    );
    for _ in ids {
        bump(&ctx.shared.stats.deleted_pending);
    }
    ops::ack(&ctx.shared.conn, &ctx.keys, ids).await
}

/// Delivery counts of just-claimed entries (extended XPENDING over their id range).
async fn deliveries_of(
    ctx: &ServiceCtx,
    live: &[StreamEntry],
) -> Result<HashMap<String, u64>, RedisError> {
    let ids = live
        .iter()
        .filter_map(|e| ops::parse_id(&e.id).map(|p| (p, &e.id)));
    let (Some(first), Some(last)) = (ids.clone().min(), ids.max()) else {
        return Ok(HashMap::new());
    };
    let count = live.len().max(CLAIM_PAGE) * 4;
    let rows = ops::deliveries(&ctx.shared.conn, &ctx.keys, first.1, last.1, count).await?;
    Ok(rows.into_iter().collect())
}

/// Moves an entry to `<prefix>:dead:<service>` with its fields plus the reason, answers its
/// caller with [`codes::DEAD_LETTERED`], and acknowledges it, in one transaction.
async fn dead_letter(ctx: &ServiceCtx, e: &StreamEntry, deliveries: u64) -> Result<(), RedisError> {
    let opts = &ctx.shared.opts;
    let service = ctx.service;
    let id = &e.id;
    let reason = format!(
        "delivered {deliveries} times, more than max_deliveries={}",
        opts.max_deliveries()
    );
    tracing::warn!(service, entry_id = %id, deliveries, "redis entry dead-lettered: service={service} entry={id}");
    let request = e
        .text(fields::ENVELOPE)
        .and_then(Result::ok)
        .and_then(|t| Envelope::parse(t).ok());
    let reply_to = e
        .get(fields::REPLY_TO)
        .and_then(|raw| ctx.valid_reply_to(raw));
    let answer = match (request, reply_to) {
        (Some(Envelope::Request(r)), Some(to)) => {
            let response = Envelope::Response(Response {
                id: r.id.into(),
                outcome: Err(RpcError::new(codes::DEAD_LETTERED, "request dead-lettered")
                    .with_data(json!({ "deliveries": deliveries, "deadLetterStream": ctx.dead }))),
            });
            Some((to, response.to_json()))
        }
        _ => None,
    };
    let letter = DeadLetter {
        stream: &ctx.dead,
        max_len: opts.dead_letter_max_len(),
        entry: e,
        reason: &reason,
        deliveries,
        reply: answer.as_ref().map(|(to, json)| (*to, json.as_str())),
    };
    ops::dead_letter(&ctx.shared.conn, &ctx.keys, ctx.shared.reply_caps, letter).await?;
    bump(&ctx.shared.stats.dead_lettered);
    crate::metrics::dead_lettered(ctx.service);
    Ok(())
}

/// `XTRIM <stream> MINID <id>` below the oldest entry any group still needs (its oldest pending
/// entry, or the one after its last delivered entry): removes acknowledged entries, ours and
/// peers', never an undelivered or pending one.
async fn trim_acknowledged(ctx: &ServiceCtx) -> Result<(), RedisError> {
    ctx.trim.reset();
    let conn = &ctx.shared.conn;
    let stream = &ctx.keys.stream;
    let groups = match ops::groups(conn, stream).await {
        Ok(groups) => groups,
        // Refused (e.g. `LOADING`): trimming is best effort, the next tick tries again.
        Err(e) if !is_connection_error(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut threshold: Option<(u64, u64)> = None;
    for g in groups {
        let Some((ms, seq)) = ops::parse_id(&g.last_delivered_id) else {
            return Ok(()); // unknown shape: trim nothing
        };
        // Everything up to the last delivered entry was delivered; with nothing pending it was
        // also acknowledged, so the first entry still needed is the next one.
        let mut needed = (ms, seq.saturating_add(1));
        if g.pending > 0 {
            let oldest = ops::oldest_pending(conn, stream, &g.name).await?;
            match oldest.as_deref().and_then(ops::parse_id) {
                Some(oldest) => needed = needed.min(oldest),
                None => return Ok(()),
            }
        }
        threshold = Some(threshold.map_or(needed, |t| t.min(needed)));
    }
    match threshold {
        Some(below) if below > (0, 0) => ops::trim_below(conn, stream, below).await,
        _ => Ok(()),
    }
}
