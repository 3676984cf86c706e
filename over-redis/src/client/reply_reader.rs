//! The reply loop: one blocking `XREAD` on this client's reply stream, matching responses to
//! waiting calls by id.

use std::sync::Arc;

use clamator_protocol::envelope::value_key;
use clamator_protocol::{Envelope, Error, ProtocolError};
use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio_util::sync::CancellationToken;

use super::ClientShared;
use crate::backoff::Backoff;
use crate::connection::{is_connection_error, open_blocking};
use crate::entry::{self, StreamEntry};
use crate::keys::fields;
use crate::stats::bump;

pub(crate) async fn reply_loop(shared: Arc<ClientShared>, stop: CancellationToken) {
    let opts = &shared.opts;
    let block_ms = u64::try_from(opts.block.as_millis()).unwrap_or(u64::MAX);
    // Replies can only exist for calls of this run: start at the beginning (as the peers).
    let mut last_id = "0-0".to_owned();
    let mut backoff = Backoff::default();
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        let mut c = match &conn {
            Some(c) => c.clone(),
            None => {
                let opened = tokio::select! {
                    () = stop.cancelled() => return,
                    r = open_blocking(&shared.client, opts.block, opts.command_timeout) => r,
                };
                match opened {
                    Ok(c) => {
                        conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        fail(&shared, &e, &mut backoff, &stop).await;
                        continue;
                    }
                }
            }
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&shared.reply_stream)
            .arg(&last_id);
        // Dropping a reply read loses nothing: the client is stopping.
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = cmd.query_async::<Value>(&mut c) => r,
        };
        match result {
            Ok(v) => {
                backoff.reset();
                let (live, deleted) = entry::read_reply(&v);
                for e in live {
                    last_id.clone_from(&e.id);
                    deliver(&shared, &e);
                }
                if let Some(id) = deleted.last() {
                    last_id.clone_from(id);
                }
            }
            Err(e) => {
                if is_connection_error(&e) {
                    conn = None;
                }
                fail(&shared, &e, &mut backoff, &stop).await;
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
fn deliver(shared: &ClientShared, e: &StreamEntry) {
    let Some(Ok(text)) = e.text(fields::ENVELOPE) else {
        return; // no envelope: skipped, as the peers
    };
    let (key, result): (String, Result<_, Error>) = match Envelope::parse(text) {
        Ok(Envelope::Response(r)) => (r.key().into_owned(), Ok(r)),
        Ok(other) => {
            let Some(key) = raw_id_key(text) else {
                bump(&shared.stats.malformed_replies);
                return;
            };
            let kind = other.kind();
            (key, Err(ProtocolError::UnexpectedResponseKind(kind).into()))
        }
        Err(err) => {
            tracing::warn!(error = %err, "redis reply parse failed");
            bump(&shared.stats.malformed_replies);
            let Some(key) = raw_id_key(text) else {
                return;
            };
            (
                key,
                Err(ProtocolError::InvalidResponse(Box::new(err)).into()),
            )
        }
    };
    match shared.pending.remove(&key) {
        Some((_, waiter)) => {
            if result.is_ok() {
                bump(&shared.stats.replies);
            }
            let _ = waiter.send(result);
        }
        None => bump(&shared.stats.unmatched_replies),
    }
}

fn raw_id_key(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = value.get("id")?;
    (!id.is_null()).then(|| value_key(id).into_owned())
}
