//! Failing calls whose reply was trimmed from the reply stream before this client read it.
//!
//! A reply to a request always has a later id than the request (the same Redis writes both,
//! the reply after). When the reply loop finds replies deleted unread up to some id, every call
//! whose request id is below it may have lost its reply: each fails at once with
//! [`TransportError::ReplyLost`] instead of waiting for its timeout. The reply loop records the
//! id first and then fails the calls whose request id it knows; a sender that learns its
//! request id afterwards compares it with the recorded id itself, so no call slips between.

use clamator_protocol::{Error, Replies, SendMark, TransportError};

use super::ClientShared;
use crate::stats::bump;

fn reply_lost(shared: &ClientShared, lost_to: SendMark) -> Error {
    let (ms, seq) = lost_to;
    TransportError::ReplyLost(format!(
        "reply stream {} was trimmed past unread replies (up to {ms}-{seq}) before this client \
         read them; raise the server's reply stream cap or lower the client's max_in_flight",
        shared.reply_stream
    ))
    .into()
}

/// Records that replies before `lost_to` were trimmed unread and fails every call sent before.
pub(crate) fn fail_calls_sent_before(shared: &ClientShared, replies: &Replies, lost_to: SendMark) {
    {
        let mut lost_up_to = shared
            .lost_up_to
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *lost_up_to = (*lost_up_to).max(lost_to);
    }
    let failed = replies.fail_sent_before(lost_to, || reply_lost(shared, lost_to));
    for _ in 0..failed {
        bump(&shared.stats.replies_lost);
    }
    let (ms, seq) = lost_to;
    tracing::error!(
        calls = failed,
        "redis reply stream {} was trimmed past unread replies (before {ms}-{seq}); failed the calls that may have lost theirs",
        shared.reply_stream
    );
}

/// Fails one waiting call with `reply lost` (no-op if it was answered meanwhile).
pub(crate) fn fail_one(shared: &ClientShared, replies: &Replies, key: &str, lost_to: SendMark) {
    if replies.fail(key, reply_lost(shared, lost_to)) {
        bump(&shared.stats.replies_lost);
    }
}
