//! One entry, start to finish: decode, check the caller's deadline, dispatch (with the handler
//! timeout), then write the reply and acknowledge in one round trip, retried through Redis
//! outages until it lands, the caller stops waiting, or the server stops.

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Envelope, Id, Response, RpcError};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::ServiceCtx;
use redis::Value;

use super::sleep_or_cancel;
use crate::backoff::Backoff;
use crate::codes;
use crate::connection::is_transient;
use crate::entry::{self, StreamEntry};
use crate::keys::fields;
use crate::stats::bump;

/// First and longest pause between attempts to commit a finished entry. Shorter than the
/// reconnect backoff: a caller is waiting, and a Redis that reloads or fails over is back in
/// seconds.
const COMMIT_RETRY_FIRST: Duration = Duration::from_millis(20);
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(1);

/// Removes the entry from the running set however the task ends (also when aborted).
struct RunningGuard<'a> {
    ctx: &'a ServiceCtx,
    id: &'a str,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.ctx.unmark_running(self.id);
    }
}

/// What to do with an entry before any handler runs.
enum Plan {
    /// Acknowledge and drop (malformed, or the caller gave up).
    Drop,
    /// Dispatch; reply to `reply_to` if it is a request.
    Dispatch {
        envelope: Envelope,
        reply_to: Option<String>,
    },
}

pub(crate) async fn run_entry(
    ctx: Arc<ServiceCtx>,
    entry: StreamEntry,
    _slot: OwnedSemaphorePermit,
) {
    let _running = RunningGuard {
        ctx: &ctx,
        id: &entry.id,
    };
    let deadline_ms = caller_deadline(&entry);
    let (envelope, reply_to) = match plan(&ctx, &entry, deadline_ms) {
        Plan::Drop => {
            finish(&ctx, &entry.id, None, None).await;
            return;
        }
        Plan::Dispatch { envelope, reply_to } => (envelope, reply_to),
    };
    let request_id: Option<Id> = match &envelope {
        Envelope::Request(r) => Some(r.id.clone()),
        _ => None,
    };
    bump(&ctx.shared.stats.dispatched);
    let span = crate::telemetry::server_span(ctx.service, &entry, &envelope);
    let dispatch = ctx.dispatcher.dispatch(envelope).instrument(span.clone());
    let outcome = tokio::select! {
        biased;
        () = ctx.run.abandon.cancelled() => return, // stop: the entry stays pending
        r = with_timeout(dispatch, ctx.shared.opts.handler_timeout) => r,
    };
    let response = match outcome {
        Ok(response) => response,
        Err(limit) => {
            let service = ctx.service;
            let id = &entry.id;
            tracing::warn!(service, entry_id = %id, "redis handler timeout: service={service} entry={id}");
            bump(&ctx.shared.stats.handler_timeouts);
            request_id.map(|rid| Response {
                id: rid.into(),
                outcome: Err(RpcError::new(codes::HANDLER_TIMEOUT, "handler timeout")
                    .with_data(json!({ "timeoutMs": limit.as_millis() as u64 }))),
            })
        }
    };
    clamator_protocol::telemetry::record_server_outcome(&span, response.as_ref());
    let reply = match (reply_to, response) {
        (Some(to), Some(r)) => Some((to, Envelope::Response(r).to_json())),
        _ => None,
    };
    finish(&ctx, &entry.id, reply, deadline_ms).await;
}

async fn with_timeout<F: std::future::Future>(
    fut: F,
    limit: Option<Duration>,
) -> Result<F::Output, Duration> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.map_err(|_| d),
        None => Ok(fut.await),
    }
}

fn plan(ctx: &ServiceCtx, entry: &StreamEntry, deadline_ms: Option<i64>) -> Plan {
    let service = ctx.service;
    let id = &entry.id;
    let malformed = |reason: &str| {
        tracing::warn!(service, entry_id = %id, reason, "redis poison envelope: service={service} entry={id}");
        bump(&ctx.shared.stats.malformed);
        Plan::Drop
    };
    let text = match entry.text(fields::ENVELOPE) {
        None => return malformed("no envelope field"),
        Some(Err(_)) => return malformed("envelope is not UTF-8"),
        Some(Ok(t)) => t,
    };
    let envelope = match Envelope::parse(text) {
        Ok(Envelope::Response(_)) => return malformed("a response on a command stream"),
        Ok(e) => e,
        Err(e) => return malformed(&e.to_string()),
    };
    let reply_to = match entry.get(fields::REPLY_TO) {
        None => None,
        Some(raw) => match valid_reply_to(ctx, raw) {
            Some(to) => Some(to.to_owned()),
            None => return malformed("reply-to is not a reply stream of this prefix"),
        },
    };
    if matches!(envelope, Envelope::Request(_))
        && deadline_ms.is_some_and(|d| ctx.shared.redis_now_ms() > d)
    {
        tracing::info!(service, entry_id = %id,
            "redis request skipped, its caller's timeout has passed: service={service} entry={id}");
        bump(&ctx.shared.stats.deadline_skipped);
        return Plan::Drop;
    }
    Plan::Dispatch { envelope, reply_to }
}

/// The `reply-to` of an entry if it names a reply stream of this server's prefix
/// (`<prefix>:replies:<client-id>`, the only shape clamator clients write). Anything else would
/// make the server append to, trim and expire a key it has no business touching (a confused
/// deputy): such an entry is malformed.
pub(crate) fn valid_reply_to<'a>(ctx: &ServiceCtx, raw: &'a [u8]) -> Option<&'a str> {
    let to = std::str::from_utf8(raw).ok()?;
    let client_id = to.strip_prefix(ctx.reply_prefix.as_str())?;
    (!client_id.is_empty()).then_some(to)
}

/// When the caller stops waiting, on Redis's clock (ms): entry time + `timeout-ms`. `None` for
/// entries without the field (peer clients), which are always served.
pub(crate) fn caller_deadline(entry: &StreamEntry) -> Option<i64> {
    let timeout_ms = entry
        .text(fields::TIMEOUT_MS)
        .and_then(Result::ok)
        .and_then(|t| t.trim().parse::<i64>().ok())?;
    let (written_ms, _) = entry::parse_id(&entry.id)?;
    let written_ms = i64::try_from(written_ms).unwrap_or(i64::MAX);
    Some(written_ms.saturating_add(timeout_ms))
}

/// Writes the reply (if any), then acknowledges the entry. Entries finishing together are
/// committed together by the service's finisher (see [`super::finisher`]); this waits until
/// the entry is committed (or given up on, leaving it pending to be reclaimed).
pub(crate) async fn finish(
    ctx: &ServiceCtx,
    id: &str,
    reply: Option<(String, String)>,
    deadline_ms: Option<i64>,
) {
    let job = Finished {
        id: id.to_owned(),
        reply,
        deadline_ms,
    };
    match ctx.finisher.submit(job) {
        Ok(committed) => {
            let _ = committed.await;
        }
        // No finisher (it only stops with the service): commit alone.
        Err(job) => commit(ctx, std::slice::from_ref(&job)).await,
    }
}

/// An entry whose outcome is known: its reply (stream, JSON) if it gets one.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) id: String,
    pub(crate) reply: Option<(String, String)>,
    /// When its caller stops waiting (Redis clock, ms); `None`: unknown, keep trying until the
    /// server stops.
    pub(crate) deadline_ms: Option<i64>,
}

/// Commits a batch in one transaction (`MULTI`, every reply's `XADD` + `PEXPIRE`, one `XACK`
/// for all ids, `EXEC`), so an entry is never acknowledged while its reply is refused: a command
/// Redis rejects up front (`LOADING`, `READONLY`, `OOM`, `NOPERM`, …) aborts the whole
/// transaction, and a dropped connection discards it.
///
/// Transient failures (connection errors and the codes of
/// [`is_transient`](crate::connection::is_transient)) are retried with backoff for as long as
/// some caller still waits; an entry whose caller's deadline passes meanwhile is left pending
/// (a later reclaim sees the deadline and acknowledges it) and counted; on stop every entry
/// still uncommitted is left pending for another server. A permanent failure isolates the
/// culprit by committing entry by entry and leaves that one pending (after `max_deliveries`
/// it is dead-lettered). A reply that Redis refuses inside an executed transaction (a
/// `WRONGTYPE` key at the reply stream's name) cannot ever be written: it is counted and
/// logged, and the entry stays acknowledged.
pub(crate) async fn commit(ctx: &ServiceCtx, batch: &[Finished]) {
    let mut todo: Vec<&Finished> = batch.iter().collect();
    let mut backoff = Backoff::new(COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX);
    let service = ctx.service;
    loop {
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        let mut reply_slots = Vec::with_capacity(todo.len());
        let mut index = 0;
        for job in &todo {
            if let Some((to, json)) = &job.reply {
                reply_slots.push(Some(index));
                index += add_reply(&mut pipe, ctx, to, json);
            } else {
                reply_slots.push(None);
            }
        }
        add_ack(&mut pipe, ctx, todo.iter().map(|j| j.id.as_str()));
        match ctx.shared.conn.pipe::<Vec<Value>>(&pipe).await {
            Ok(results) => {
                for (job, slot) in todo.iter().zip(&reply_slots) {
                    match slot.and_then(|i| results.get(i)) {
                        Some(Value::ServerError(e)) => {
                            let id = &job.id;
                            tracing::error!(service, entry_id = %id, error = %e,
                                "redis reply refused, entry acknowledged without it: service={service} entry={id}");
                            bump(&ctx.shared.stats.replies_refused);
                        }
                        Some(_) => bump(&ctx.shared.stats.replies),
                        None => {}
                    }
                }
                if let Some(Value::ServerError(e)) = results.get(index) {
                    tracing::error!(service, error = %e, "redis XACK refused: service={service}");
                    bump(&ctx.shared.stats.loop_errors);
                    return;
                }
                for _ in &todo {
                    bump(&ctx.shared.stats.acked);
                }
                ctx.note_acked(todo.len());
                return;
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(service, error = %e, entries = todo.len(),
                    "redis commit failed, retrying: service={service}");
                bump(&ctx.shared.stats.commit_retries);
                if ctx.run.abandon.is_cancelled() {
                    return; // stopping: the entries stay pending for another server
                }
                sleep_or_cancel(backoff.next_delay(), &ctx.run.abandon).await;
                drop_expired(ctx, &mut todo);
                if todo.is_empty() {
                    return;
                }
            }
            Err(e) if todo.len() > 1 => {
                tracing::warn!(service, error = %e, "redis commit refused, committing entries one by one: service={service}");
                for job in todo {
                    Box::pin(commit(ctx, std::slice::from_ref(job))).await;
                }
                return;
            }
            Err(e) => {
                let id = &todo[0].id;
                tracing::error!(service, entry_id = %id, error = %e,
                    "redis commit refused, entry left pending: service={service} entry={id}");
                bump(&ctx.shared.stats.commit_failed);
                return;
            }
        }
    }
}

/// Forgets the replies whose caller no longer waits; their entries stay pending, and the
/// reclaim that finds them later sees the deadline and acknowledges them.
fn drop_expired(ctx: &ServiceCtx, todo: &mut Vec<&Finished>) {
    let service = ctx.service;
    let now = ctx.shared.redis_now_ms();
    todo.retain(|job| {
        let expired = job.reply.is_some() && job.deadline_ms.is_some_and(|d| now > d);
        if expired {
            let id = &job.id;
            tracing::warn!(service, entry_id = %id,
                "redis reply not written before its caller's deadline, entry left pending: service={service} entry={id}");
            bump(&ctx.shared.stats.replies_expired);
        }
        !expired
    });
}

/// `XADD <to> MAXLEN ~ n * type rpc envelope <json>` then `PEXPIRE <to> ttl`; returns how many
/// commands it added (the `XADD` is the first).
pub(crate) fn add_reply(
    pipe: &mut redis::Pipeline,
    ctx: &ServiceCtx,
    to: &str,
    json: &str,
) -> usize {
    let opts = &ctx.shared.opts;
    pipe.cmd("XADD")
        .arg(to)
        .arg("MAXLEN")
        .arg("~")
        .arg(opts.reply_stream_max_len)
        .arg("*")
        .arg(fields::TYPE)
        .arg(fields::TYPE_RPC)
        .arg(fields::ENVELOPE)
        .arg(json);
    match opts.reply_stream_ttl {
        Some(ttl) => {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            pipe.cmd("PEXPIRE").arg(to).arg(ms);
            2
        }
        None => 1,
    }
}

/// `XACK <stream> <group> <ids…>`. The entries themselves are removed by the maintenance trim
/// (`XTRIM MINID`) once every group is past them: one trim per batch is far cheaper than an
/// `XDEL` per entry.
pub(crate) fn add_ack<'a>(
    pipe: &mut redis::Pipeline,
    ctx: &ServiceCtx,
    ids: impl IntoIterator<Item = &'a str>,
) {
    let cmd = pipe.cmd("XACK").arg(&ctx.stream).arg(&ctx.group);
    for id in ids {
        cmd.arg(id);
    }
}
