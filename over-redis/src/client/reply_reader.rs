//! The reply loop: one blocking `XREAD` on this client's reply stream, matching responses to
//! waiting calls by id.
//!
//! Replies are deleted once read (`XTRIM MINID` below the last one read, pipelined with the
//! next read), so the stream holds only unread replies and a server's `MAXLEN ~` cap can only
//! bite when more replies than the cap are unread at once, which the client's in-flight limit
//! prevents. As a backstop, while calls wait the loop also asks Redis how many entries were
//! ever added to the stream (`XINFO STREAM`, Redis ≥ 7): more than this loop read plus those
//! still there means replies were trimmed unread, and every call sent before the stream's
//! first remaining entry fails at once with `reply lost` instead of timing out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_protocol::envelope::value_key;
use clamator_protocol::{Envelope, Error, ProtocolError, Replies};
use tokio_util::sync::CancellationToken;

use super::{reply_lost, ClientShared};
use crate::backoff::Backoff;
use crate::connection::{must_reconnect, open_blocking};
use crate::keys::fields;
use crate::ops::{self, Dedicated, ReplyRound, StreamEntry};
use crate::stats::bump;

/// How often, while calls wait, the loop checks whether replies were trimmed unread.
const GAP_CHECK_EVERY: Duration = Duration::from_millis(250);

pub(crate) async fn reply_loop(
    shared: Arc<ClientShared>,
    replies: Replies,
    stop: CancellationToken,
) {
    let opts = &shared.opts;
    let Ok(backend) = shared.backend() else {
        return; // start refused these options
    };
    let block_ms = ops::millis(opts.block());
    // Replies can only exist for calls of this run: start at the beginning (as the peers).
    let mut last_id = "0-0".to_owned();
    // Everything at or below this id is deleted (asked of XTRIM by this loop).
    let mut trimmed_to = (0u64, 0u64);
    // Entries this loop read, and entries found trimmed unread (already reported).
    let mut read_count = 0u64;
    let mut lost_count = 0u64;
    let mut gap_checked = Instant::now();
    let mut backoff = Backoff::reconnect(opts.connection());
    let mut conn: Option<Dedicated> = None;
    let mut connected_before = false;
    loop {
        let c = match &conn {
            Some(c) => c,
            None => {
                let opened = tokio::select! {
                    () = stop.cancelled() => return,
                    r = open_blocking(&backend.endpoint, opts.connection(), opts.block()) => r,
                };
                match opened {
                    Ok(c) => {
                        if std::mem::replace(&mut connected_before, true) {
                            crate::metrics::reconnect(crate::metrics::Conn::ClientReader);
                        }
                        conn.insert(Dedicated(c))
                    }
                    Err(e) => {
                        fail(&shared, &e, &mut backoff, &stop).await;
                        continue;
                    }
                }
            }
        };
        let read_to = ops::parse_id(&last_id).unwrap_or_default();
        let trimming = read_to > trimmed_to;
        let check_gap = !replies.is_empty() && gap_checked.elapsed() >= GAP_CHECK_EVERY;
        if check_gap {
            gap_checked = Instant::now();
        }
        let round = ReplyRound {
            stream: &shared.reply_stream,
            // Everything read so far: the ids up to and including `read_to`.
            trim_below: trimming.then(|| (read_to.0, read_to.1.saturating_add(1))),
            stream_info: check_gap,
            block_ms,
            after: &last_id,
        };
        // Dropping a reply read loses nothing: the client is stopping.
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = ops::reply_round(c, round) => r,
        };
        let round = match result {
            Ok(r) => r,
            Err(e) => {
                if must_reconnect(&e) {
                    conn = None;
                }
                fail(&shared, &e, &mut backoff, &stop).await;
                continue;
            }
        };
        // The accounting below holds only if everything read is gone from the stream: a
        // refused trim (e.g. LOADING) is tried again next round, and this round's XINFO says
        // nothing.
        let info = if round.trimmed { round.info } else { None };
        if round.trimmed {
            trimmed_to = trimmed_to.max(read_to);
        }
        let read = match round.read {
            Ok(read) => read,
            // The stream's slot moved (or the node changed role) under the blocked read: read
            // again at once, the next read follows the MOVED.
            Err(e) if e.code() == "UNBLOCKED" => continue,
            Err(e) => {
                let e = redis::RedisError::from(e);
                fail(&shared, &e, &mut backoff, &stop).await;
                continue;
            }
        };
        backoff.reset();
        let ops::Entries { live, deleted } = read;
        // What was read before this round's XINFO: its `length` still counts this round's read.
        let read_before = read_count;
        read_count += (live.len() + deleted.len()) as u64;
        for e in live {
            last_id.clone_from(&e.id);
            deliver(&shared, &replies, &e);
        }
        if let Some(id) = deleted.last() {
            last_id.clone_from(id);
        }
        // Calls answered by this read are delivered first: only those still waiting can have
        // lost their reply.
        if let Some(info) = info {
            // After the XTRIM, the stream holds only entries after `read_to`; any entry added
            // that is neither read nor still there was trimmed before this loop read it.
            let accounted = read_before + info.length + lost_count;
            if info.entries_added > accounted {
                lost_count += info.entries_added - accounted;
                let bound = match &info.first_entry_id {
                    Some(first) => ops::parse_id(first),
                    None => ops::parse_id(&info.last_generated_id).map(|(ms, s)| (ms, s + 1)),
                };
                if let Some(bound) = bound {
                    reply_lost::fail_calls_sent_before(&shared, &replies, bound);
                }
            } else if info.entries_added < read_before + info.length {
                // The stream was deleted and created again (expiry, DEL): count afresh.
                read_count =
                    info.entries_added.saturating_sub(info.length) + read_count - read_before;
                lost_count = 0;
            }
        }
    }
}

async fn fail(
    shared: &ClientShared,
    e: &redis::RedisError,
    backoff: &mut Backoff,
    stop: &CancellationToken,
) {
    tracing::error!(error = %e, "redis reply loop error");
    bump(&shared.stats.loop_errors);
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(backoff.next_delay()) => {}
    }
}

/// Hands one reply entry to its waiting call. A malformed reply that still names a waiting
/// call's id fails that call with a protocol error instead of leaving it to time out.
fn deliver(shared: &ClientShared, replies: &Replies, e: &StreamEntry) {
    let Some(Ok(text)) = e.text(fields::ENVELOPE) else {
        return; // no envelope: skipped, as the peers
    };
    let (key, error): (String, Error) = match Envelope::parse(text) {
        Ok(Envelope::Response(r)) => {
            if replies.deliver(r) {
                bump(&shared.stats.replies);
            } else {
                bump(&shared.stats.unmatched_replies);
            }
            return;
        }
        Ok(other) => {
            let Some(key) = raw_id_key(text) else {
                bump(&shared.stats.malformed_replies);
                return;
            };
            let kind = other.kind();
            (key, ProtocolError::UnexpectedResponseKind(kind).into())
        }
        Err(err) => {
            tracing::warn!(error = %err, "redis reply parse failed");
            bump(&shared.stats.malformed_replies);
            let Some(key) = raw_id_key(text) else {
                return;
            };
            (key, ProtocolError::InvalidResponse(Box::new(err)).into())
        }
    };
    if !replies.fail(&key, error) {
        bump(&shared.stats.unmatched_replies);
    }
}

/// The `id` of a reply that is not a valid response, read as leniently as envelopes are (lone
/// surrogate escapes become U+FFFD), so its caller fails at once instead of timing out.
fn raw_id_key(text: &str) -> Option<String> {
    let value = clamator_protocol::envelope::parse_value_lenient(text).ok()?;
    let id = value.get("id")?;
    (!id.is_null()).then(|| value_key(id).into_owned())
}
