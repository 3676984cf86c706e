//! Counters, so operators (and tests) can see what the transport skipped, dropped or retried
//! instead of reading logs.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$meta:meta])* $inner:ident => $snap:ident { $($(#[$fmeta:meta])* $field:ident),* $(,)? }) => {
        #[derive(Debug, Default)]
        pub(crate) struct $inner {
            $(pub(crate) $field: AtomicU64,)*
        }

        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $snap {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $inner {
            pub(crate) fn snapshot(&self) -> $snap {
                $snap { $($field: self.$field.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// A server transport's counters since it was created.
    ServerCounters => ServerStats {
        /// Entries taken from command streams (new reads).
        received,
        /// Entries reclaimed from idle consumers (XAUTOCLAIM).
        reclaimed,
        /// Envelopes handed to a dispatcher.
        dispatched,
        /// Responses written to reply streams.
        replies,
        /// Entries acknowledged (XACK).
        acked,
        /// Entries without an `envelope`, with invalid JSON or an invalid envelope.
        malformed,
        /// Requests skipped because their caller's timeout had passed.
        deadline_skipped,
        /// Handlers abandoned after the handler timeout.
        handler_timeouts,
        /// Entries moved to the dead-letter stream.
        dead_lettered,
        /// Pending entries found deleted from the stream while reclaiming.
        deleted_pending,
        /// Idle-time refreshes of running entries (XCLAIM JUSTID), one per entry.
        refreshed,
        /// Consumers of dead instances removed (presence expired, nothing pending).
        dead_consumers_removed,
        /// Loop errors followed by a backoff (dropped connection, Redis restart, …).
        loop_errors,
        /// Commits (replies + acks) retried after a transient failure (connection lost,
        /// `LOADING`, `READONLY`, …).
        commit_retries,
        /// Replies not written before their caller's deadline despite retries; their entries
        /// were left pending (acknowledged by a later reclaim).
        replies_expired,
        /// Replies Redis refused for good inside an executed commit (e.g. `WRONGTYPE` at the
        /// reply stream's key); their entries are acknowledged without a reply.
        replies_refused,
        /// Commits refused permanently (e.g. `NOPERM`); the entry was left pending.
        commit_failed,
        /// Entries of this consumer's own pending list read again after a (re)connect.
        own_pending_reread,
    }
}

counters! {
    /// A client transport's counters since it was created.
    ClientCounters => ClientStats {
        /// Requests written (XADD succeeded).
        requests,
        /// Notifications written.
        notifications,
        /// Responses matched to a waiting call.
        replies,
        /// Responses for calls nobody waits for any more (timed out, or another client's id).
        unmatched_replies,
        /// Reply entries that are not valid JSON-RPC responses.
        malformed_replies,
        /// Calls failed fast because no server group exists for their service.
        no_server,
        /// Reply loop errors followed by a backoff.
        loop_errors,
        /// Request or notification writes retried after a transient failure.
        xadd_retries,
        /// Calls failed with `reply lost` because their reply stream was trimmed past unread
        /// replies (a peer server's cap), instead of timing out.
        replies_lost,
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
