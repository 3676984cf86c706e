//! One entry, start to finish: decode, check the caller's deadline, dispatch (with the handler
//! timeout), then write the reply and acknowledge in one round trip.

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Envelope, Id, Response, RpcError};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use super::ServiceCtx;
use crate::backoff::Backoff;
use crate::codes;
use crate::connection::is_connection_error;
use crate::entry::{self, StreamEntry};
use crate::keys::fields;
use crate::stats::bump;

/// How often writing a reply + ack is attempted before the entry is left pending (to be
/// reclaimed and run again).
const FINISH_ATTEMPTS: usize = 4;

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
    let (envelope, reply_to) = match plan(&ctx, &entry) {
        Plan::Drop => {
            finish(&ctx, &entry.id, None).await;
            return;
        }
        Plan::Dispatch { envelope, reply_to } => (envelope, reply_to),
    };
    let request_id: Option<Id> = match &envelope {
        Envelope::Request(r) => Some(r.id.clone()),
        _ => None,
    };
    bump(&ctx.shared.stats.dispatched);
    let dispatch = ctx.dispatcher.dispatch(envelope);
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
    let reply = match (reply_to, response) {
        (Some(to), Some(r)) => Some((to, Envelope::Response(r).to_json())),
        _ => None,
    };
    finish(&ctx, &entry.id, reply).await;
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

fn plan(ctx: &ServiceCtx, entry: &StreamEntry) -> Plan {
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
    let reply_to = entry
        .text(fields::REPLY_TO)
        .and_then(Result::ok)
        .map(str::to_owned);
    if matches!(envelope, Envelope::Request(_)) && caller_gave_up(ctx, entry) {
        tracing::info!(service, entry_id = %id,
            "redis request skipped, its caller's timeout has passed: service={service} entry={id}");
        bump(&ctx.shared.stats.deadline_skipped);
        return Plan::Drop;
    }
    Plan::Dispatch { envelope, reply_to }
}

/// True when the entry carries `timeout-ms` and entry time + timeout is already past on Redis's
/// clock. Entries without the field (peer clients) are always served.
fn caller_gave_up(ctx: &ServiceCtx, entry: &StreamEntry) -> bool {
    let Some(timeout_ms) = entry
        .text(fields::TIMEOUT_MS)
        .and_then(Result::ok)
        .and_then(|t| t.trim().parse::<i64>().ok())
    else {
        return false;
    };
    let Some((written_ms, _)) = entry::parse_id(&entry.id) else {
        return false;
    };
    let written_ms = i64::try_from(written_ms).unwrap_or(i64::MAX);
    ctx.shared.redis_now_ms() > written_ms.saturating_add(timeout_ms)
}

/// Writes the reply (if any), then acknowledges the entry. Entries finishing together are
/// committed together by the service's finisher (see [`super::finisher`]); this waits until
/// the entry is committed (or given up on, leaving it pending to be reclaimed).
pub(crate) async fn finish(ctx: &ServiceCtx, id: &str, reply: Option<(String, String)>) {
    let job = Finished {
        id: id.to_owned(),
        reply,
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
}

/// One pipeline for a batch: every reply (`XADD` + `PEXPIRE`), then one `XACK` for all ids.
/// Redis runs a pipeline in order, so no entry is acknowledged before its reply is written.
/// Connection failures are retried with backoff; on giving up the entries stay pending and are
/// reclaimed later. Any other error (e.g. `WRONGTYPE` on a bogus `reply-to`) is isolated by
/// committing the entries one by one; an entry whose reply cannot be written is acknowledged
/// without it, so it does not come back forever.
pub(crate) async fn commit(ctx: &ServiceCtx, batch: &[Finished]) {
    let Some(first) = batch.first() else {
        return;
    };
    let mut pipe = redis::pipe();
    for job in batch {
        if let Some((to, json)) = &job.reply {
            add_reply(&mut pipe, ctx, to, json);
        }
    }
    add_ack(&mut pipe, ctx, batch.iter().map(|j| j.id.as_str()));
    let mut backoff = Backoff::default();
    for attempt in 1..=FINISH_ATTEMPTS {
        match ctx.shared.conn.pipe::<()>(&pipe).await {
            Ok(()) => {
                for job in batch {
                    if job.reply.is_some() {
                        bump(&ctx.shared.stats.replies);
                    }
                    bump(&ctx.shared.stats.acked);
                }
                ctx.note_acked(batch.len());
                return;
            }
            Err(_) if batch.len() > 1 => {
                // Find the culprit: replies that did land are written again (callers drop
                // duplicates), as at-least-once allows.
                for job in batch {
                    Box::pin(commit(ctx, std::slice::from_ref(job))).await;
                }
                return;
            }
            Err(e) if !is_connection_error(&e) => {
                let service = ctx.service;
                let id = &first.id;
                tracing::warn!(service, entry_id = %id, error = %e, "redis reply failed, acknowledging without reply: service={service} entry={id}");
                let mut ack = redis::pipe();
                add_ack(&mut ack, ctx, std::iter::once(id.as_str()));
                if ctx.shared.conn.pipe::<()>(&ack).await.is_ok() {
                    bump(&ctx.shared.stats.acked);
                    ctx.note_acked(1);
                }
                return;
            }
            Err(e) => {
                let service = ctx.service;
                tracing::error!(service, error = %e, attempt, "redis consumer loop error: service={service}");
                bump(&ctx.shared.stats.loop_errors);
                if attempt < FINISH_ATTEMPTS {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

/// `XADD <to> MAXLEN ~ n * type rpc envelope <json>` then `PEXPIRE <to> ttl`.
pub(crate) fn add_reply(pipe: &mut redis::Pipeline, ctx: &ServiceCtx, to: &str, json: &str) {
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
        .arg(json)
        .ignore();
    if let Some(ttl) = opts.reply_stream_ttl {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        pipe.cmd("PEXPIRE").arg(to).arg(ms).ignore();
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
    cmd.ignore();
}
