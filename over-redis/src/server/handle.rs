//! One entry, start to finish: decode, check the caller's deadline, dispatch (with the handler
//! timeout), then hand the outcome to the service's [finisher](super::finisher), which writes
//! the reply and acknowledges in one round trip, retried through Redis outages until it lands,
//! the caller stops waiting, or the server stops.

use std::sync::Arc;
use std::time::Duration;

use clamator_protocol::{Envelope, Id, Response, RpcError};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::finisher::Finished;
use super::service::ServiceCtx;
use crate::codes;
use crate::keys::fields;
use crate::metrics::{self, Malformed};
use crate::ops::{self, StreamEntry};
use crate::stats::bump;

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
    /// Answer without dispatching: a request the envelope reader refused but can still answer
    /// (an integer beyond 64 bits in its params: `-32602`, rather than a silent drop).
    Answer {
        reply_to: String,
        response: Response,
        /// The request's method, for its metrics label.
        method: String,
    },
    /// Dispatch; reply to `reply_to` if it is a request.
    Dispatch {
        envelope: Envelope,
        reply_to: Option<String>,
    },
}

/// Handles one entry; `deliveries` is how many times Redis delivered it (1 for a new entry,
/// more for one reclaimed or re-read after a crash or reconnect).
pub(crate) async fn run_entry(
    ctx: Arc<ServiceCtx>,
    entry: StreamEntry,
    deliveries: u64,
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
        Plan::Answer {
            reply_to,
            response,
            method,
        } => {
            metrics::refused(&ctx.dispatcher, &method, &response);
            let reply = Envelope::Response(response).to_json();
            finish(&ctx, &entry.id, Some((reply_to, reply)), deadline_ms).await;
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
    clamator_protocol::telemetry::record_redelivery(&span, deliveries);
    let measured = metrics::ServerRequest::start(&ctx.dispatcher, &envelope);
    let dispatch = ctx.dispatcher.dispatch(envelope).instrument(span.clone());
    let outcome = tokio::select! {
        biased;
        () = ctx.run.abandon.cancelled() => return, // stop: the entry stays pending
        r = with_timeout(dispatch, ctx.shared.opts.handler_timeout()) => r,
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
    ctx.presence.note(response.as_ref());
    measured.finish(response.as_ref());
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
    let malformed = |kind: Malformed, reason: &str| {
        tracing::warn!(service, entry_id = %id, reason, "redis poison envelope: service={service} entry={id}");
        bump(&ctx.shared.stats.malformed);
        metrics::malformed(service, kind);
        Plan::Drop
    };
    let text = match entry.text(fields::ENVELOPE) {
        None => return malformed(Malformed::NoEnvelope, "no envelope field"),
        Some(Err(_)) => return malformed(Malformed::NotUtf8, "envelope is not UTF-8"),
        Some(Ok(t)) => t,
    };
    let reply_to = match entry.get(fields::REPLY_TO) {
        None => None,
        Some(raw) => match ctx.valid_reply_to(raw) {
            Some(to) => Some(to.to_owned()),
            None => {
                return malformed(
                    Malformed::BadReplyTo,
                    "reply-to is not a reply stream of this prefix",
                )
            }
        },
    };
    let envelope = match Envelope::parse(text) {
        Ok(Envelope::Response(_)) => {
            return malformed(Malformed::Response, "a response on a command stream")
        }
        Ok(e) => e,
        Err(e) => {
            if let (Some(reply_to), Some(response)) = (&reply_to, Envelope::refusal(text, &e)) {
                tracing::info!(service, entry_id = %id, error = %e,
                    "redis request refused with -32602: service={service} entry={id}");
                return Plan::Answer {
                    reply_to: reply_to.clone(),
                    response,
                    method: method_of(text),
                };
            }
            return malformed(Malformed::InvalidEnvelope, &e.to_string());
        }
    };
    if matches!(envelope, Envelope::Request(_))
        && deadline_ms.is_some_and(|d| ctx.shared.redis_now_ms() > d)
    {
        tracing::info!(service, entry_id = %id,
            "redis request skipped, its caller's timeout has passed: service={service} entry={id}");
        bump(&ctx.shared.stats.deadline_skipped);
        metrics::skipped_expired(service);
        return Plan::Drop;
    }
    Plan::Dispatch { envelope, reply_to }
}

/// The method part of the `"<service>.<method>"` of an envelope the reader refused (its params
/// hold an integer no 64-bit type holds; the rest is valid JSON), or `""` when unreadable.
fn method_of(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct MethodOnly {
        method: String,
    }
    serde_json::from_str::<MethodOnly>(text)
        .ok()
        .and_then(|m| {
            let (_, method) = clamator_protocol::names::split_method(&m.method).ok()?;
            Some(method.to_owned())
        })
        .unwrap_or_default()
}

/// When the caller stops waiting, on Redis's clock (ms): entry time + `timeout-ms`. `None` for
/// entries without the field (peer clients), which are always served.
pub(crate) fn caller_deadline(entry: &StreamEntry) -> Option<i64> {
    let timeout_ms = entry
        .text(fields::TIMEOUT_MS)
        .and_then(Result::ok)
        .and_then(|t| t.trim().parse::<i64>().ok())?;
    let (written_ms, _) = ops::parse_id(&entry.id)?;
    let written_ms = i64::try_from(written_ms).unwrap_or(i64::MAX);
    Some(written_ms.saturating_add(timeout_ms))
}

/// Hands the entry's outcome to the service's finisher and waits until it is committed (or
/// given up on, leaving it pending to be reclaimed).
async fn finish(
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
    ctx.finisher.submit(ctx, job).await;
}
