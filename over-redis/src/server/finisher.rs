//! The end of the reply path: an entry whose outcome is known is queued here
//! ([`Finisher::submit`]) and committed (its reply written, then acknowledged) by this
//! service's finisher task. Data flows one way: entry task → finisher → Redis.
//!
//! Group commit: entries that finish while a commit is in flight are committed together, in
//! one transaction (their replies, then one `XACK` for all), instead of one round trip each.
//! Under load this divides the server's writes, syscalls and replies to parse by the batch
//! size; an entry finishing alone is committed at once, so latency does not grow.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::control::sleep_or_cancel;
use super::service::ServiceCtx;
use crate::backoff::Backoff;
use crate::connection::is_transient;
use crate::ops::{self, ReplyOutcome};
use crate::stats::bump;

/// Most entries in one commit.
const MAX_BATCH: usize = 128;

/// First and longest pause between attempts to commit a finished entry. Shorter than the
/// reconnect backoff: a caller is waiting, and a Redis that reloads or fails over is back in
/// seconds.
const COMMIT_RETRY_FIRST: Duration = Duration::from_millis(20);
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(1);

/// An entry whose outcome is known: its reply (stream, JSON) if it gets one.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) id: String,
    pub(crate) reply: Option<(String, String)>,
    /// When its caller stops waiting (Redis clock, ms); `None`: unknown, keep trying until the
    /// server stops.
    pub(crate) deadline_ms: Option<i64>,
}

type Job = (Finished, oneshot::Sender<()>);

/// The receiving end of a [`Finisher`], for [`spawn`].
pub(crate) type Queue = mpsc::UnboundedReceiver<Job>;

/// Queue of finished entries of one service. At most one job per running handler is queued, so
/// `max_concurrent_handlers` bounds it.
#[derive(Debug)]
pub(crate) struct Finisher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Finisher {
    /// A finisher and the receiving end for [`spawn`].
    pub(crate) fn new() -> (Self, Queue) {
        let (jobs, rx) = mpsc::unbounded_channel();
        (Self { jobs }, rx)
    }

    /// Queues an entry and waits until it is committed (or given up on, leaving it pending to
    /// be reclaimed). Without a finisher task (it only stops with the service) the entry is
    /// committed alone.
    pub(crate) async fn submit(&self, ctx: &ServiceCtx, job: Finished) {
        let (done, committed) = oneshot::channel();
        match self.jobs.send((job, done)) {
            Ok(()) => {
                let _ = committed.await;
            }
            Err(e) => commit(ctx, std::slice::from_ref(&e.0 .0)).await,
        }
    }
}

/// Commits queued entries in batches until the service is gone. Holds the service weakly: the
/// queue's sender lives in the service, so dropping the service ends this loop.
async fn run(ctx: Weak<ServiceCtx>, mut rx: Queue) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let Some(ctx) = ctx.upgrade() else {
            break;
        };
        let (batch, waiters): (Vec<Finished>, Vec<_>) = jobs.drain(..).unzip();
        commit(&ctx, &batch).await;
        for done in waiters {
            let _ = done.send(());
        }
    }
}

/// Starts the finisher task of `ctx`.
pub(crate) fn spawn(ctx: &Arc<ServiceCtx>, rx: Queue) {
    tokio::spawn(run(Arc::downgrade(ctx), rx));
}

/// Commits a batch in one transaction ([`ops::commit`]), so an entry is never acknowledged
/// while its reply is refused.
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
async fn commit(ctx: &ServiceCtx, batch: &[Finished]) {
    let mut todo: Vec<&Finished> = batch.iter().collect();
    let mut backoff = Backoff::new(COMMIT_RETRY_FIRST, COMMIT_RETRY_MAX);
    let service = ctx.service;
    let stats = &ctx.shared.stats;
    loop {
        let items = todo.iter().map(commit_item);
        match ops::commit(&ctx.shared.conn, &ctx.keys, ctx.shared.reply_caps, items).await {
            Ok(committed) => {
                for (job, outcome) in todo.iter().zip(&committed.replies) {
                    match outcome {
                        ReplyOutcome::Refused(e) => {
                            let id = &job.id;
                            tracing::error!(service, entry_id = %id, error = %e,
                                "redis reply refused, entry acknowledged without it: service={service} entry={id}");
                            bump(&stats.replies_refused);
                        }
                        ReplyOutcome::Written => bump(&stats.replies),
                        ReplyOutcome::None => {}
                    }
                }
                if let Some(e) = committed.ack_refused {
                    tracing::error!(service, error = %e, "redis XACK refused: service={service}");
                    bump(&stats.loop_errors);
                    return;
                }
                for _ in &todo {
                    bump(&stats.acked);
                }
                ctx.trim.note_acked(todo.len());
                return;
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(service, error = %e, entries = todo.len(),
                    "redis commit failed, retrying: service={service}");
                bump(&stats.commit_retries);
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
                bump(&stats.commit_failed);
                return;
            }
        }
    }
}

/// An entry as [`ops::commit`] takes it. A named function, not a closure: a closure's
/// lifetimes would not be general enough for the spawned (`Send`) commit future.
fn commit_item<'a>(job: &&'a Finished) -> ops::CommitItem<'a> {
    let reply = job
        .reply
        .as_ref()
        .map(|(to, json)| (to.as_str(), json.as_str()));
    (job.id.as_str(), reply)
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
