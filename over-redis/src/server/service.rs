//! The context of one service served by one started server: its keys, its handler slots, the
//! entries it is running, its trim trigger and its commit queue.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use clamator_protocol::Dispatcher;
use tokio::sync::{Notify, Semaphore};

use super::control::RunControl;
use super::finisher::Finisher;
use super::presence::PresenceCounts;
use super::shared::ServerShared;
use crate::keys;
use crate::ops::GroupKeys;

/// One service served by one server.
#[derive(Debug)]
pub(crate) struct ServiceCtx {
    pub(crate) shared: Arc<ServerShared>,
    pub(crate) run: Arc<RunControl>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) service: &'static str,
    /// Command stream, group and this server's consumer.
    pub(crate) keys: GroupKeys,
    /// `<prefix>:dead:<service>`.
    pub(crate) dead: String,
    /// `<prefix>:replies:`: the only keys replies are written to.
    reply_prefix: String,
    /// Free handler slots; reading asks for at most this many entries.
    pub(crate) slots: Arc<Semaphore>,
    /// Entry ids taken by this server and not yet acknowledged (refreshed, never re-run here).
    running: Mutex<HashSet<String>>,
    /// Asks the maintenance loop for a trim after a batch of acknowledgements.
    pub(crate) trim: TrimTrigger,
    /// Commits finished entries in batches.
    pub(crate) finisher: Finisher,
    /// Handled / error counts published with presence.
    pub(crate) presence: PresenceCounts,
}

impl ServiceCtx {
    pub(crate) fn new(
        shared: Arc<ServerShared>,
        run: Arc<RunControl>,
        dispatcher: Dispatcher,
        finisher: Finisher,
    ) -> Self {
        let service = dispatcher.service_name();
        let opts = &shared.opts;
        Self {
            keys: GroupKeys {
                stream: keys::command_stream(opts.key_prefix(), service),
                group: keys::consumer_group_name(service),
                consumer: keys::consumer_name(service, opts.instance_id()),
            },
            dead: keys::dead_letter_stream(opts.key_prefix(), service),
            reply_prefix: keys::reply_stream_prefix(opts.key_prefix()),
            slots: Arc::new(Semaphore::new(opts.max_concurrent_handlers())),
            running: Mutex::new(HashSet::new()),
            trim: TrimTrigger::default(),
            finisher,
            presence: PresenceCounts::default(),
            service,
            dispatcher,
            run,
            shared,
        }
    }

    /// Records an entry as taken; false if it already is.
    pub(crate) fn mark_running(&self, id: &str) -> bool {
        self.running_set().insert(id.to_owned())
    }

    pub(crate) fn unmark_running(&self, id: &str) {
        self.running_set().remove(id);
    }

    pub(crate) fn is_running(&self, id: &str) -> bool {
        self.running_set().contains(id)
    }

    pub(crate) fn running_count(&self) -> usize {
        self.running_set().len()
    }

    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.running_set().iter().cloned().collect()
    }

    fn running_set(&self) -> MutexGuard<'_, HashSet<String>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `reply-to` of an entry if it names a reply stream of this server's prefix
    /// (`<prefix>:replies:<client-id>`, the only shape clamator clients write). Anything else
    /// would make the server append to, trim and expire a key it has no business touching (a
    /// confused deputy): such an entry is malformed.
    pub(crate) fn valid_reply_to<'a>(&self, raw: &'a [u8]) -> Option<&'a str> {
        let to = std::str::from_utf8(raw).ok()?;
        let client_id = to.strip_prefix(self.reply_prefix.as_str())?;
        (!client_id.is_empty()).then_some(to)
    }
}

/// Acknowledged entries that trigger a trim before the trim interval elapses, bounding how
/// many acknowledged entries a busy stream holds.
pub(crate) const TRIM_BATCH: usize = 1024;

/// Counts acknowledgements since the last trim; at [`TRIM_BATCH`] wakes the maintenance loop to
/// trim at once instead of waiting for its timer.
#[derive(Debug, Default)]
pub(crate) struct TrimTrigger {
    acked_since: AtomicUsize,
    wanted: Notify,
}

impl TrimTrigger {
    /// Counts `n` acknowledged entries; every [`TRIM_BATCH`] of them asks for a trim.
    pub(crate) fn note_acked(&self, n: usize) {
        let before = self.acked_since.fetch_add(n, Ordering::Relaxed);
        if before < TRIM_BATCH && before + n >= TRIM_BATCH {
            self.wanted.notify_one();
        }
    }

    /// A trim starts: count afresh.
    pub(crate) fn reset(&self) {
        self.acked_since.store(0, Ordering::Relaxed);
    }

    /// Resolves when a batch of acknowledgements asked for a trim.
    pub(crate) async fn wanted(&self) {
        self.wanted.notified().await;
    }
}
