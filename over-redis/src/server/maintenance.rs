//! The maintenance loop of one service: keep this server's running entries from looking idle,
//! reclaim entries of dead consumers (following the XAUTOCLAIM cursor to the end), dead-letter
//! entries delivered too often, trim acknowledged entries left by peers, resync the clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Envelope, Response, RpcError};
use redis::{RedisError, Value};
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{handle, sleep_or_cancel, ServiceCtx};
use crate::backoff::Backoff;
use crate::codes;
use crate::entry::{self, StreamEntry};
use crate::keys::fields;
use crate::stats::bump;

/// Most entries claimed per XAUTOCLAIM page (the peer's page size).
const CLAIM_PAGE: usize = 32;

pub(crate) async fn maintenance_loop(ctx: Arc<ServiceCtx>, stop: CancellationToken) {
    let service = ctx.service;
    let opts = &ctx.shared.opts;
    let mut refresh = tokio::time::interval((opts.claim_idle / 3).max(Duration::from_millis(10)));
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reclaim = tokio::time::interval(opts.effective_reclaim_interval());
    reclaim.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut trim = tokio::time::interval(opts.trim_interval);
    trim.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut backoff = Backoff::default();
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => break,
            _ = refresh.tick() => refresh_running(&ctx).await,
            _ = reclaim.tick() => reclaim_and_resync(&ctx).await,
            _ = trim.tick() => trim_acknowledged(&ctx).await,
            () = ctx.trim_wanted.notified() => trim_acknowledged(&ctx).await,
        };
        match result {
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::error!(service, error = %e, "redis reclaim loop error: service={service}");
                bump(&ctx.shared.stats.loop_errors);
                sleep_or_cancel(backoff.next_delay(), &stop).await;
            }
        }
    }
}

/// `XCLAIM … 0 <ids> JUSTID` on the entries this server holds: resets their idle time without
/// counting a delivery, so no other server reclaims work that is still running.
async fn refresh_running(ctx: &ServiceCtx) -> Result<(), RedisError> {
    let ids = ctx.running_ids();
    if ids.is_empty() {
        return Ok(());
    }
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(&ctx.stream)
        .arg(&ctx.group)
        .arg(&ctx.consumer)
        .arg(0)
        .arg(&ids)
        .arg("JUSTID");
    let _: Value = ctx.shared.conn.query(&cmd).await?;
    for _ in &ids {
        bump(&ctx.shared.stats.refreshed);
    }
    Ok(())
}

async fn reclaim_and_resync(ctx: &Arc<ServiceCtx>) -> Result<(), RedisError> {
    if !ctx.run.intake.is_cancelled() {
        reclaim(ctx).await?;
    }
    ctx.shared.sync_clock().await
}

/// XAUTOCLAIM pages until the cursor returns to `0-0` or no handler slot is free.
async fn reclaim(ctx: &Arc<ServiceCtx>) -> Result<(), RedisError> {
    let min_idle = u64::try_from(ctx.shared.opts.claim_idle.as_millis()).unwrap_or(u64::MAX);
    let mut cursor = "0-0".to_owned();
    loop {
        let free = ctx.slots.available_permits();
        if free == 0 || ctx.run.intake.is_cancelled() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&ctx.stream)
            .arg(&ctx.group)
            .arg(&ctx.consumer)
            .arg(min_idle)
            .arg(&cursor)
            .arg("COUNT")
            .arg(free.min(CLAIM_PAGE));
        let reply: Value = ctx.shared.conn.query(&cmd).await?;
        let (next, live, deleted) = entry::autoclaim_reply(&reply);
        if !deleted.is_empty() {
            forget_deleted(ctx, &deleted).await?;
        }
        if !admit_redelivered(ctx, live, "reclaimed").await? {
            return Ok(());
        }
        if next == "0-0" || next.is_empty() {
            return Ok(());
        }
        cursor = next;
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
        if n > ctx.shared.opts.max_deliveries {
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
        } else {
            bump(&ctx.shared.stats.own_pending_reread);
        }
        ctx.mark_running(&e.id);
        ctx.run
            .tracker
            .spawn(handle::run_entry(ctx.clone(), e, permit));
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
    let mut cmd = redis::cmd("XACK");
    cmd.arg(&ctx.stream).arg(&ctx.group).arg(ids);
    ctx.shared.conn.query::<Value>(&cmd).await.map(|_| ())
}

/// Delivery counts of just-claimed entries (extended XPENDING over their id range).
async fn deliveries_of(
    ctx: &ServiceCtx,
    live: &[StreamEntry],
) -> Result<HashMap<String, u64>, RedisError> {
    let ids = live
        .iter()
        .filter_map(|e| entry::parse_id(&e.id).map(|p| (p, &e.id)));
    let (Some(first), Some(last)) = (ids.clone().min(), ids.max()) else {
        return Ok(HashMap::new());
    };
    let mut cmd = redis::cmd("XPENDING");
    cmd.arg(&ctx.stream)
        .arg(&ctx.group)
        .arg(first.1)
        .arg(last.1)
        .arg(live.len().max(CLAIM_PAGE) * 4)
        .arg(&ctx.consumer);
    let reply: Value = ctx.shared.conn.query(&cmd).await?;
    Ok(entry::pending_deliveries(&reply).into_iter().collect())
}

/// Moves an entry to `<prefix>:dead:<service>` with its fields plus the reason, answers its
/// caller with [`codes::DEAD_LETTERED`], and acknowledges it, in one pipeline.
async fn dead_letter(ctx: &ServiceCtx, e: &StreamEntry, deliveries: u64) -> Result<(), RedisError> {
    let opts = &ctx.shared.opts;
    let service = ctx.service;
    let id = &e.id;
    let reason = format!(
        "delivered {deliveries} times, more than max_deliveries={}",
        opts.max_deliveries
    );
    tracing::warn!(service, entry_id = %id, deliveries, "redis entry dead-lettered: service={service} entry={id}");
    // One transaction: the dead letter, the caller's answer and the ack land together or not
    // at all (a refused reply must not leave an acknowledged entry without its dead letter).
    let mut pipe = redis::pipe();
    pipe.atomic();
    let add = pipe
        .cmd("XADD")
        .arg(&ctx.dead)
        .arg("MAXLEN")
        .arg("~")
        .arg(opts.dead_letter_max_len)
        .arg("*");
    for (k, v) in &e.fields {
        add.arg(k.as_slice()).arg(v.as_slice());
    }
    add.arg(fields::DEAD_REASON)
        .arg(&reason)
        .arg(fields::DEAD_ENTRY_ID)
        .arg(id)
        .arg(fields::DEAD_DELIVERIES)
        .arg(deliveries)
        .ignore();
    let request = e
        .text(fields::ENVELOPE)
        .and_then(Result::ok)
        .and_then(|t| Envelope::parse(t).ok());
    let reply_to = e
        .get(fields::REPLY_TO)
        .and_then(|raw| handle::valid_reply_to(ctx, raw));
    if let (Some(Envelope::Request(r)), Some(to)) = (request, reply_to) {
        let response = Envelope::Response(Response {
            id: r.id.into(),
            outcome: Err(RpcError::new(codes::DEAD_LETTERED, "request dead-lettered")
                .with_data(json!({ "deliveries": deliveries, "deadLetterStream": ctx.dead }))),
        });
        handle::add_reply(&mut pipe, ctx, to, &response.to_json());
    }
    handle::add_ack(&mut pipe, ctx, std::iter::once(id.as_str()));
    ctx.shared.conn.pipe::<redis::Value>(&pipe).await?;
    bump(&ctx.shared.stats.dead_lettered);
    Ok(())
}

/// `XTRIM <stream> MINID <id>` below the oldest entry any group still needs (its oldest pending
/// entry, or the one after its last delivered entry): removes acknowledged entries, ours and
/// peers', never an undelivered or pending one.
async fn trim_acknowledged(ctx: &ServiceCtx) -> Result<(), RedisError> {
    ctx.acked_since_trim
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let groups = check_groups(ctx).await?;
    if groups.is_empty() {
        return Ok(());
    }
    let mut threshold: Option<(u64, u64)> = None;
    for g in groups {
        let Some((ms, seq)) = entry::parse_id(&g.last_delivered_id) else {
            return Ok(()); // unknown shape: trim nothing
        };
        // Everything up to the last delivered entry was delivered; with nothing pending it was
        // also acknowledged, so the first entry still needed is the next one.
        let mut needed = (ms, seq.saturating_add(1));
        if g.pending > 0 {
            let summary: Value = ctx
                .shared
                .conn
                .query(redis::cmd("XPENDING").arg(&ctx.stream).arg(&g.name))
                .await?;
            match entry::pending_min_id(&summary).and_then(|m| entry::parse_id(&m)) {
                Some(oldest) => needed = needed.min(oldest),
                None => return Ok(()),
            }
        }
        threshold = Some(threshold.map_or(needed, |t| t.min(needed)));
    }
    match threshold {
        Some((ms, seq)) if (ms, seq) > (0, 0) => {
            let _: Value = ctx
                .shared
                .conn
                .query(
                    redis::cmd("XTRIM")
                        .arg(&ctx.stream)
                        .arg("MINID")
                        .arg(format!("{ms}-{seq}")),
                )
                .await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `XINFO GROUPS`: the stream's groups. A missing stream has no groups.
pub(crate) async fn check_groups(ctx: &ServiceCtx) -> Result<Vec<entry::GroupInfo>, RedisError> {
    let info: Value = match ctx
        .shared
        .conn
        .query(redis::cmd("XINFO").arg("GROUPS").arg(&ctx.stream))
        .await
    {
        Ok(v) => v,
        // "no such key": the stream is gone (the consumer loop recreates it).
        Err(e) if !crate::connection::is_connection_error(&e) => Value::Array(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(entry::groups(&info))
}
