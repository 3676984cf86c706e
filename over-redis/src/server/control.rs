//! Shutdown: the signals a started server's loops and entry tasks watch, and the tracker that
//! lets `stop` wait for replies being written.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Signals and task tracking of one started server.
#[derive(Debug, Default)]
pub(crate) struct RunControl {
    /// Cancelled by `close_intake`: stop reading and reclaiming.
    pub(crate) intake: CancellationToken,
    /// Cancelled by `stop`: handlers still running are dropped (their entries stay pending).
    pub(crate) abandon: CancellationToken,
    /// Cancelled by `stop` (with `abandon`): the maintenance loops end.
    pub(crate) maintenance: CancellationToken,
    /// Every entry task, so `stop` can wait for replies being written.
    pub(crate) tracker: TaskTracker,
}

/// Sleeps `d`, or less if `token` is cancelled.
pub(crate) async fn sleep_or_cancel(d: Duration, token: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = token.cancelled() => {}
    }
}
