//! Replicated writes (opt-in, [`ConnectionOptions::with_replicated_writes`]): Redis
//! acknowledges a write as soon as the primary applied it and replicates it afterwards, so a
//! primary that dies (SIGKILL, a crashed host) right after acknowledging a request can take it
//! with it, and its caller waits for a reply that never comes. With replicated writes a
//! request, notification or consumer group counts as written only once `WAIT` says enough
//! replicas hold it; a failover promotes the most up-to-date replica, which then has it.
//!
//! `WAIT` covers every earlier write of the connection it runs on, so one `WAIT` confirms all
//! the writes that completed before it was sent: a [`Gate`] lets concurrent writers share one
//! (group commit) instead of queueing a `WAIT` each behind the others on the shared connection.
//! A write confirmed on a connection that has since been replaced is not confirmed (a `WAIT` on
//! the new one says nothing about it): the writer writes again, which at-least-once delivery
//! allows (callers drop the duplicate reply).
//!
//! [`ConnectionOptions::with_replicated_writes`]: crate::ConnectionOptions::with_replicated_writes

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use redis::RedisError;

use crate::connection::SharedConnection;

/// Fewer replicas than asked for confirmed a write before its caller stopped waiting (the
/// `source` of the `TransportError::Backend` a call or notification then fails with). The write
/// is on the primary and may still be served: the caller cannot know whether it will survive a
/// failover.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotReplicated {
    /// How many replicas confirmed it in the last `WAIT`.
    pub acked: usize,
    /// How many were asked for.
    pub wanted: usize,
}

impl fmt::Display for NotReplicated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} replicas confirmed the write (Redis WAIT); it is on the primary only",
            self.acked, self.wanted
        )
    }
}

impl std::error::Error for NotReplicated {}

/// How many replicas must confirm a write, and how long one `WAIT` waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replicas {
    pub(crate) count: usize,
    pub(crate) timeout: Duration,
}

impl Replicas {
    /// `WAIT <count> <timeout ms>`.
    pub(crate) fn wait_cmd(self) -> redis::Cmd {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(self.count)
            .arg(crate::ops::millis(self.timeout).max(1));
        cmd
    }
}

/// What a [`Gate::confirm`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirmed {
    /// This many replicas hold the write (it may be fewer than asked).
    Replicas(usize),
    /// The connection the write went over was replaced: nothing can confirm it any more.
    Reconnected,
}

/// The last `WAIT` of a gate: which writes it covered, on which connection, with what result.
#[derive(Debug, Default)]
struct Covered {
    /// Increases with every `WAIT`, so a writer retrying after too few replicas waits for a
    /// newer answer instead of taking the one it already saw.
    round: u64,
    /// Writes with a ticket up to this one had completed when the `WAIT` was sent.
    upto: u64,
    /// The shared connection's generation the `WAIT` ran on.
    generation: u64,
    acked: usize,
}

/// Group commit of `WAIT`s for the writes over one connection (on a cluster: to one key's
/// node). A writer takes a [`ticket`](Self::ticket) once its write completed, then
/// [`confirm`](Self::confirm)s it: one `WAIT` at a time runs, and each covers every ticket
/// taken before it was sent.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    issued: AtomicU64,
    last: tokio::sync::Mutex<Covered>,
}

impl Gate {
    /// Numbers a completed write (call after its reply arrived, before `confirm`).
    pub(crate) fn ticket(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How many replicas hold the write of `ticket`, made over the connection of `generation`.
    /// `after_round` is 0 the first time; a writer that got too few replicas passes back the
    /// round it got, to wait for a newer `WAIT`. Returns the round of the answer.
    pub(crate) async fn confirm(
        &self,
        conn: &SharedConnection,
        key: &str,
        replicas: Replicas,
        (generation, ticket): (u64, u64),
        after_round: u64,
    ) -> Result<(Confirmed, u64), RedisError> {
        let mut last = self.last.lock().await;
        if last.round > after_round && last.upto >= ticket {
            let found = if last.generation == generation {
                Confirmed::Replicas(last.acked)
            } else {
                Confirmed::Reconnected
            };
            return Ok((found, last.round));
        }
        let upto = self.issued.load(Ordering::Acquire);
        let (now, acked) = conn
            .query_at_generation::<usize>(&replicas.wait_cmd(), key)
            .await?;
        if now != generation {
            return Ok((Confirmed::Reconnected, last.round));
        }
        *last = Covered {
            round: last.round + 1,
            upto,
            generation: now,
            acked,
        };
        Ok((Confirmed::Replicas(acked), last.round))
    }
}

/// The gates of one transport: one per connection on a single server or behind Sentinel; on a
/// cluster one per key written (a `WAIT` must run on the node that took the write).
#[derive(Debug)]
pub(crate) struct Gates {
    pub(crate) replicas: Replicas,
    single: std::sync::Arc<Gate>,
    per_key: Option<DashMap<String, std::sync::Arc<Gate>>>,
}

impl Gates {
    /// Gates for `replicas` (per key when `cluster`).
    pub(crate) fn new(replicas: Replicas, cluster: bool) -> Self {
        Self {
            replicas,
            single: std::sync::Arc::default(),
            per_key: cluster.then(DashMap::new),
        }
    }

    /// The gate for writes to `key`.
    pub(crate) fn gate(&self, key: &str) -> std::sync::Arc<Gate> {
        match &self.per_key {
            None => self.single.clone(),
            Some(map) => map.entry(key.to_owned()).or_default().clone(),
        }
    }
}

/// Writes with `write` until enough replicas confirm it: a write whose confirmation is lost
/// (connection replaced, `WAIT` failed) is written again; too few replicas are waited for again
/// while another `WAIT` ends before `give_up`, then reported as [`NotReplicated`]. `write` returns the connection
/// generation it ran on and its own result.
pub(crate) async fn write_replicated<T, E, W, Fut>(
    conn: &SharedConnection,
    gates: &Gates,
    key: &str,
    give_up: std::time::Instant,
    mut write: W,
) -> Result<T, ReplicatedError<E>>
where
    W: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(u64, T), E>>,
{
    let replicas = gates.replicas;
    loop {
        let (generation, value) = write().await.map_err(ReplicatedError::Write)?;
        let gate = gates.gate(key);
        let outcome = async {
            let ticket = gate.ticket();
            let mut round = 0;
            loop {
                match gate
                    .confirm(conn, key, replicas, (generation, ticket), round)
                    .await
                {
                    Ok((Confirmed::Replicas(n), _)) if n >= replicas.count => {
                        return Ok(true);
                    }
                    Ok((Confirmed::Replicas(acked), r)) => {
                        // Another `WAIT` would end too close to the caller's deadline (one
                        // more `WAIT` of margin, for a busy machine): say why now, before its
                        // timeout hides it.
                        if std::time::Instant::now() + replicas.timeout * 2 >= give_up {
                            return Err(ReplicatedError::NotReplicated(NotReplicated {
                                acked,
                                wanted: replicas.count,
                            }));
                        }
                        round = r;
                    }
                    Ok((Confirmed::Reconnected, _)) => return Ok(false),
                    Err(e) => return Err(ReplicatedError::Wait(e)),
                }
            }
        }
        .await;
        match outcome {
            Ok(true) => return Ok(value),
            Ok(false) => tracing::debug!(
                key,
                "redis write not confirmed before a reconnect, writing again"
            ),
            Err(ReplicatedError::Wait(e)) if crate::connection::is_transient(&e) => {
                tracing::warn!(key, error = %e, "redis WAIT failed, writing again");
                if std::time::Instant::now() >= give_up {
                    return Err(ReplicatedError::Wait(e));
                }
                // The connection is being replaced: give it a moment.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Why [`write_replicated`] gave up.
#[derive(Debug)]
pub(crate) enum ReplicatedError<E> {
    /// The write itself failed (the caller's retry policy decides).
    Write(E),
    /// `WAIT` failed for good.
    Wait(RedisError),
    /// Too few replicas until the deadline.
    NotReplicated(NotReplicated),
}

impl<E: fmt::Display> fmt::Display for ReplicatedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write(e) => e.fmt(f),
            Self::Wait(e) => write!(f, "WAIT failed: {e}"),
            Self::NotReplicated(e) => e.fmt(f),
        }
    }
}
