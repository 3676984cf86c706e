//! Failing calls whose reply was trimmed from the reply stream before this client read it.
//!
//! A reply to a request always has a later id than the request (the same Redis writes both,
//! the reply after). When the reply loop finds replies deleted unread up to some id, every call
//! whose request id is below it may have lost its reply: each fails at once with
//! [`TransportError::ReplyLost`] instead of waiting for its timeout. The reply loop records the
//! id first and then fails the calls it knows the request id of; a sender that learns its
//! request id afterwards compares it with the recorded id itself, so no call slips between.

use clamator_protocol::TransportError;

use super::ClientShared;
use crate::stats::bump;

/// Records that replies up to `lost_to` were trimmed unread and fails every call sent before.
pub(crate) fn fail_calls_sent_before(shared: &ClientShared, lost_to: (u64, u64)) {
    {
        let mut lost_up_to = shared.lost_up_to.lock().unwrap_or_else(|p| p.into_inner());
        *lost_up_to = (*lost_up_to).max(lost_to);
    }
    let victims: Vec<String> = shared
        .pending
        .iter()
        .filter(|w| w.sent.is_some_and(|sent| sent < lost_to))
        .map(|w| w.key().clone())
        .collect();
    let (ms, seq) = lost_to;
    tracing::error!(
        calls = victims.len(),
        "redis reply stream {} was trimmed past unread replies (up to {ms}-{seq}); failing the calls that may have lost theirs",
        shared.reply_stream
    );
    for key in victims {
        fail_call(shared, &key, lost_to);
    }
}

/// Fails one waiting call with `reply lost` (no-op if it was answered meanwhile).
pub(crate) fn fail_call(shared: &ClientShared, key: &str, lost_to: (u64, u64)) {
    let Some((_, waiter)) = shared.pending.remove(key) else {
        return;
    };
    bump(&shared.stats.replies_lost);
    let (ms, seq) = lost_to;
    let _ = waiter.tx.send(Err(TransportError::ReplyLost(format!(
        "reply stream {} was trimmed past unread replies (up to {ms}-{seq}) before this client \
         read them; raise the server's reply stream cap or lower the client's max_in_flight",
        shared.reply_stream
    ))
    .into()));
}
