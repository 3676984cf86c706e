//! Group commit: entries that finish while a commit is in flight are committed together, in
//! one pipeline (their replies, then one `XACK` for all), instead of one round trip each. Under
//! load this divides the server's writes, syscalls and replies to parse by the batch size; an
//! entry finishing alone is committed at once, so latency does not grow.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use super::handle::{commit, Finished};
use super::ServiceCtx;

/// Most entries in one commit.
const MAX_BATCH: usize = 128;

type Job = (Finished, oneshot::Sender<()>);

/// Queue of finished entries of one service. At most one job per running handler is queued, so
/// `max_concurrent_handlers` bounds it.
#[derive(Debug)]
pub(crate) struct Finisher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Finisher {
    /// A finisher and the receiving end for [`run`].
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Job>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        (Self { jobs }, rx)
    }

    /// Queues an entry; the receiver resolves once it is committed (or given up on). Gives the
    /// entry back when the finisher has stopped.
    pub(crate) fn submit(&self, job: Finished) -> Result<oneshot::Receiver<()>, Finished> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send((job, done))
            .map(|()| committed)
            .map_err(|e| e.0 .0)
    }
}

/// Commits queued entries in batches until the service is gone. Holds the service weakly: the
/// queue's sender lives in the service, so dropping the service ends this loop.
pub(crate) async fn run(ctx: Weak<ServiceCtx>, mut rx: mpsc::UnboundedReceiver<Job>) {
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

/// Starts the finisher of `ctx`.
pub(crate) fn spawn(ctx: &Arc<ServiceCtx>, rx: mpsc::UnboundedReceiver<Job>) {
    tokio::spawn(run(Arc::downgrade(ctx), rx));
}
