//! Every Redis command this crate sends, typed: each operation builds its command (or
//! pipeline), runs it on a [`Conn`] and decodes the reply into a named type
//! ([`reply`]). The client, the server's consumer, entry, commit and maintenance loops all go
//! through here, so there is one place that knows a command's arguments, one that decodes its
//! reply and one that decides which of its errors mean "nothing there".
//!
//! This is also the seam for other connection kinds: an operation only needs a [`Conn`], which
//! the shared self-healing connection implements and [`Dedicated`] implements for anything
//! [`AnyConnection`] (a multiplexed or a cluster connection). Every key one operation touches
//! is named by its arguments, so a cluster connection can route it; on a cluster
//! ([`Conn::is_cluster`]) no command, pipeline or transaction spans two keys of different
//! slots: where one server commits replies and the ack in one transaction, a cluster writes
//! the replies first and acknowledges after (at least once holds: an entry is never
//! acknowledged before its reply landed).

pub(crate) mod preflight;
pub(crate) mod presence;
pub(crate) mod reply;

use std::future::Future;

use redis::{Cmd, FromRedisValue, Pipeline, RedisError, Value};

use crate::connection::{
    has_code, is_connection_error, is_transient, AnyConnection, SharedConnection,
};
use crate::keys::fields;
pub(crate) use reply::{parse_id, AutoClaimed, Entries, GroupInfo, StreamEntry, StreamInfo};

/// Something commands run on. `&self`, because many tasks share one connection.
pub(crate) trait Conn: Send + Sync {
    /// Runs one command and decodes its reply.
    fn query<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
    ) -> impl Future<Output = Result<T, RedisError>> + Send;

    /// Runs a pipeline (or a `MULTI`/`EXEC` transaction) in one round trip.
    fn pipe<T: FromRedisValue + Send>(
        &self,
        pipe: &Pipeline,
    ) -> impl Future<Output = Result<T, RedisError>> + Send;

    /// Runs a keyless command on the node owning `key` (on one server: anywhere).
    fn query_at<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
        key: &str,
    ) -> impl Future<Output = Result<T, RedisError>> + Send;

    /// True on a cluster: commands on different slots cannot share a pipeline.
    fn is_cluster(&self) -> bool;
}

impl Conn for SharedConnection {
    fn query<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        SharedConnection::query(self, cmd)
    }

    fn pipe<T: FromRedisValue + Send>(
        &self,
        pipe: &Pipeline,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        SharedConnection::pipe(self, pipe)
    }

    fn query_at<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
        key: &str,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        SharedConnection::query_at(self, cmd, key)
    }

    fn is_cluster(&self) -> bool {
        SharedConnection::is_cluster(self)
    }
}

/// A connection of one loop's own (the blocking reads): a cheap handle to a multiplexed or
/// cluster connection. A failure is the loop's to handle: it opens a new one.
#[derive(Clone)]
pub(crate) struct Dedicated(pub(crate) AnyConnection);

impl Conn for Dedicated {
    fn query<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        let mut conn = self.0.clone();
        async move { cmd.query_async(&mut conn).await }
    }

    fn pipe<T: FromRedisValue + Send>(
        &self,
        pipe: &Pipeline,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        let mut conn = self.0.clone();
        async move { pipe.query_async(&mut conn).await }
    }

    fn query_at<T: FromRedisValue + Send>(
        &self,
        cmd: &Cmd,
        key: &str,
    ) -> impl Future<Output = Result<T, RedisError>> + Send {
        let mut conn = self.0.clone();
        async move { conn.query_at(cmd, key).await }
    }

    fn is_cluster(&self) -> bool {
        self.0.is_cluster()
    }
}

/// One command stream as one consumer of its group sees it.
#[derive(Debug, Clone)]
pub(crate) struct GroupKeys {
    /// `<prefix>:cmds:<service>`.
    pub(crate) stream: String,
    /// The consumer group (named after the service).
    pub(crate) group: String,
    /// `<service>:<server-instance-id>`.
    pub(crate) consumer: String,
}

/// How replies are written: the `MAXLEN ~` cap and the expiry set at every reply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyCaps {
    pub(crate) max_len: usize,
    /// `PEXPIRE` in ms (at least 1); `None`: no expiry.
    pub(crate) ttl_ms: Option<u64>,
    /// On a cluster with replicated writes: the replicas each reply waits for (on its own
    /// node) before the acknowledgement is written on the command stream's.
    pub(crate) replicas: Option<crate::replication::Replicas>,
}

/// A duration as the whole milliseconds Redis takes.
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `NOGROUP`: the consumer group (or its stream) does not exist.
pub(crate) fn is_no_group(e: &RedisError) -> bool {
    has_code(e, "NOGROUP")
}

/// `ERR no such key`, the answer to `XINFO` on a stream that does not exist.
fn is_no_such_key(e: &RedisError) -> bool {
    !is_connection_error(e) && e.to_string().to_ascii_lowercase().contains("no such key")
}

// ---- groups -------------------------------------------------------------------------------

/// `XGROUP CREATE <stream> <group> <start> MKSTREAM`; `BUSYGROUP` (it exists) is success.
/// Returns the generation of the shared connection it ran over (for a `WAIT` confirming it).
pub(crate) async fn create_group(
    c: &SharedConnection,
    k: &GroupKeys,
    start_id: &str,
) -> Result<u64, RedisError> {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(&k.stream)
        .arg(&k.group)
        .arg(start_id)
        .arg("MKSTREAM");
    match c.query_generation::<()>(&cmd).await {
        Ok((generation, ())) => Ok(generation),
        // Someone created it: a `WAIT` over the current connection then confirms only that
        // enough replicas are there.
        Err(e) if has_code(&e, "BUSYGROUP") => Ok(c.get().await?.0),
        Err(e) => Err(e),
    }
}

/// `XINFO GROUPS <stream>`: the stream's consumer groups; a stream that does not exist has
/// none (`ERR no such key` is not an error). Every other failure is the caller's to judge.
pub(crate) async fn groups(c: &impl Conn, stream: &str) -> Result<Vec<GroupInfo>, RedisError> {
    match c
        .query::<Value>(redis::cmd("XINFO").arg("GROUPS").arg(stream))
        .await
    {
        Ok(v) => Ok(reply::groups(&v)),
        Err(e) if is_no_such_key(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

// ---- reading ------------------------------------------------------------------------------

/// `XREADGROUP GROUP <g> <consumer> COUNT n [BLOCK ms] STREAMS <stream> <from>`: `>` for new
/// entries (with `BLOCK`), an id for this consumer's own pending entries after it (without).
/// `NOGROUP` comes back as an error ([`is_no_group`]).
pub(crate) async fn read_group(
    c: &impl Conn,
    k: &GroupKeys,
    count: usize,
    block_ms: Option<u64>,
    from: &str,
) -> Result<Entries, RedisError> {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(&k.group)
        .arg(&k.consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS").arg(&k.stream).arg(from);
    let v: Value = c.query(&cmd).await?;
    Ok(reply::read_reply(&v))
}

/// `XAUTOCLAIM <stream> <group> <consumer> <min-idle> <cursor> COUNT n`: one page of entries
/// idle longer than `min_idle_ms`, now this consumer's.
pub(crate) async fn autoclaim(
    c: &impl Conn,
    k: &GroupKeys,
    min_idle_ms: u64,
    cursor: &str,
    count: usize,
) -> Result<AutoClaimed, RedisError> {
    let mut cmd = redis::cmd("XAUTOCLAIM");
    cmd.arg(&k.stream)
        .arg(&k.group)
        .arg(&k.consumer)
        .arg(min_idle_ms)
        .arg(cursor)
        .arg("COUNT")
        .arg(count);
    let v: Value = c.query(&cmd).await?;
    Ok(reply::autoclaim_reply(&v))
}

/// `XCLAIM <stream> <group> <consumer> 0 <ids…> JUSTID`: resets the entries' idle time without
/// counting a delivery.
pub(crate) async fn claim_justid(
    c: &impl Conn,
    k: &GroupKeys,
    ids: &[String],
) -> Result<(), RedisError> {
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(&k.stream)
        .arg(&k.group)
        .arg(&k.consumer)
        .arg(0)
        .arg(ids)
        .arg("JUSTID");
    c.query::<Value>(&cmd).await.map(drop)
}

/// `XPENDING <stream> <group> <first> <last> <count> <consumer>`: how often each of this
/// consumer's pending entries in the range was delivered.
pub(crate) async fn deliveries(
    c: &impl Conn,
    k: &GroupKeys,
    first: &str,
    last: &str,
    count: usize,
) -> Result<Vec<(String, u64)>, RedisError> {
    let mut cmd = redis::cmd("XPENDING");
    cmd.arg(&k.stream)
        .arg(&k.group)
        .arg(first)
        .arg(last)
        .arg(count)
        .arg(&k.consumer);
    let v: Value = c.query(&cmd).await?;
    Ok(reply::pending_deliveries(&v))
}

/// `XPENDING <stream> <group>`: the group's oldest pending id. `Ok(None)` when nothing is
/// pending or the reply has an unknown shape.
pub(crate) async fn oldest_pending(
    c: &impl Conn,
    stream: &str,
    group: &str,
) -> Result<Option<String>, RedisError> {
    let v: Value = c
        .query(redis::cmd("XPENDING").arg(stream).arg(group))
        .await?;
    Ok(reply::pending_min_id(&v))
}

// ---- writing ------------------------------------------------------------------------------

/// `XACK <stream> <group> <ids…>` on its own.
pub(crate) async fn ack(c: &impl Conn, k: &GroupKeys, ids: &[String]) -> Result<(), RedisError> {
    let mut cmd = redis::cmd("XACK");
    cmd.arg(&k.stream).arg(&k.group).arg(ids);
    c.query::<Value>(&cmd).await.map(drop)
}

/// `XTRIM <stream> MINID <ms>-<seq>`: removes every entry below the id.
pub(crate) async fn trim_below(
    c: &impl Conn,
    stream: &str,
    (ms, seq): (u64, u64),
) -> Result<(), RedisError> {
    let mut cmd = redis::cmd("XTRIM");
    cmd.arg(stream).arg("MINID").arg(format!("{ms}-{seq}"));
    c.query::<Value>(&cmd).await.map(drop)
}

/// `XADD <stream> * <field> <value> …` on the shared connection: a request or notification;
/// returns the connection's generation (a `WAIT` confirming it must run on the same
/// connection) and the entry id (empty if the reply had an unknown shape).
pub(crate) async fn add_entry(
    c: &SharedConnection,
    stream: &str,
    entry_fields: &[(&str, &str)],
) -> Result<(u64, String), RedisError> {
    let (generation, v): (u64, Value) = c
        .query_generation(&add_entry_cmd(stream, entry_fields))
        .await?;
    Ok((generation, reply::string(&v).unwrap_or_default()))
}

fn add_entry_cmd(stream: &str, entry_fields: &[(&str, &str)]) -> Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("*");
    for (k, v) in entry_fields {
        cmd.arg(*k).arg(*v);
    }
    cmd
}

/// `DEL <key>`.
pub(crate) async fn delete(c: &impl Conn, key: &str) -> Result<(), RedisError> {
    c.query::<Value>(redis::cmd("DEL").arg(key)).await.map(drop)
}

/// `XADD <to> MAXLEN ~ n * type rpc envelope <json>` then (with a TTL) `PEXPIRE <to> ttl`, added
/// to a pipeline; returns how many commands it added (the `XADD` is the first).
fn push_reply(pipe: &mut Pipeline, caps: ReplyCaps, to: &str, json: &str) -> usize {
    pipe.cmd("XADD")
        .arg(to)
        .arg("MAXLEN")
        .arg("~")
        .arg(caps.max_len)
        .arg("*")
        .arg(fields::TYPE)
        .arg(fields::TYPE_RPC)
        .arg(fields::ENVELOPE)
        .arg(json);
    match caps.ttl_ms {
        Some(ms) => {
            pipe.cmd("PEXPIRE").arg(to).arg(ms.max(1));
            2
        }
        None => 1,
    }
}

/// `XACK <stream> <group> <ids…>`, added to a pipeline. The entries themselves are removed by
/// the maintenance trim (`XTRIM MINID`) once every group is past them: one trim per batch is
/// far cheaper than an `XDEL` per entry.
fn push_ack<'a>(pipe: &mut Pipeline, k: &GroupKeys, ids: impl IntoIterator<Item = &'a str>) {
    let cmd = pipe.cmd("XACK").arg(&k.stream).arg(&k.group);
    for id in ids {
        cmd.arg(id);
    }
}

/// What became of each reply of a committed batch.
#[derive(Debug, PartialEq)]
pub(crate) enum ReplyOutcome {
    /// The entry had no reply to write.
    None,
    /// Written.
    Written,
    /// Refused by Redis inside the executed transaction (e.g. `WRONGTYPE` at its key).
    Refused(redis::ServerError),
}

/// The outcome of an executed commit transaction.
#[derive(Debug)]
pub(crate) struct Committed {
    /// One per entry, in the order given.
    pub(crate) replies: Vec<ReplyOutcome>,
    /// `Some` when Redis refused the `XACK` itself.
    pub(crate) ack_refused: Option<redis::ServerError>,
}

/// One entry of a commit: its id and, for a request, the reply (stream, JSON) to write.
pub(crate) type CommitItem<'a> = (&'a str, Option<(&'a str, &'a str)>);

/// Commits finished entries in one transaction: `MULTI`, every reply's `XADD` (+ `PEXPIRE`),
/// one `XACK` for all ids, `EXEC`. A command Redis rejects up front (`LOADING`, `READONLY`,
/// `OOM`, `NOPERM`, …) aborts the whole transaction and a dropped connection discards it (both
/// an `Err`), so an entry is never acknowledged while its reply is refused; a command refused
/// while executing is reported per reply in [`Committed`].
pub(crate) async fn commit<'a, I>(
    c: &impl Conn,
    k: &GroupKeys,
    caps: ReplyCaps,
    items: I,
) -> Result<Committed, RedisError>
where
    I: IntoIterator<Item = CommitItem<'a>>,
    I::IntoIter: Clone,
{
    let items = items.into_iter();
    if c.is_cluster() {
        return commit_cluster(c, k, caps, items).await;
    }
    let mut pipe = redis::pipe();
    pipe.atomic().ignore_errors();
    // Where each entry's XADD lands in the results (`usize::MAX`: no reply).
    let mut slots = Vec::with_capacity(items.size_hint().0);
    let mut index = 0;
    for (_, reply) in items.clone() {
        match reply {
            Some((to, json)) => {
                slots.push(index);
                index += push_reply(&mut pipe, caps, to, json);
            }
            None => slots.push(usize::MAX),
        }
    }
    push_ack(&mut pipe, k, items.map(|(id, _)| id));
    let results: Vec<Value> = c.pipe(&pipe).await?;
    let ack_refused = match results.get(index) {
        Some(Value::ServerError(e)) => Some(e.clone()),
        _ => None,
    };
    let replies = slots
        .into_iter()
        .map(|slot| match results.get(slot) {
            None => ReplyOutcome::None,
            Some(Value::ServerError(e)) => ReplyOutcome::Refused(e.clone()),
            Some(_) => ReplyOutcome::Written,
        })
        .collect();
    Ok(Committed {
        replies,
        ack_refused,
    })
}

/// [`commit`] on a cluster, where the reply streams and the command stream may sit on
/// different nodes: each reply (`XADD` + `PEXPIRE`, one key) in a transaction of its own, all
/// at once, then the `XACK` once every reply has an outcome. Any `Err` before the `XACK` leaves
/// the entries pending (their replies may be written again: callers drop duplicates).
async fn commit_cluster<'a, I>(
    c: &impl Conn,
    k: &GroupKeys,
    caps: ReplyCaps,
    items: I,
) -> Result<Committed, RedisError>
where
    I: Iterator<Item = CommitItem<'a>> + Clone,
{
    let writes = items.clone().map(|(_, reply)| async move {
        let Some((to, json)) = reply else {
            return Ok::<_, RedisError>(ReplyOutcome::None);
        };
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        push_reply(&mut pipe, caps, to, json);
        let results: Vec<Value> = c.pipe(&pipe).await?;
        match results.first() {
            // "Not now" (a slot moving, a node failing over): the whole batch is retried.
            Some(Value::ServerError(e)) if is_transient(&RedisError::from(e.clone())) => {
                Err(RedisError::from(e.clone()))
            }
            Some(Value::ServerError(e)) => Ok(ReplyOutcome::Refused(e.clone())),
            _ => {
                wait_replicas(c, caps, to).await?;
                Ok(ReplyOutcome::Written)
            }
        }
    });
    let replies = futures_util::future::try_join_all(writes).await?;
    let mut xack = redis::cmd("XACK");
    xack.arg(&k.stream).arg(&k.group);
    for (id, _) in items {
        xack.arg(id);
    }
    let ack_refused = match c.query::<Value>(&xack).await {
        Ok(_) => None,
        Err(e) if is_transient(&e) => return Err(e),
        Err(e) => match e.clone().into_server_errors() {
            Some(errors) => errors.iter().next().map(|(_, err)| err.clone()),
            None => return Err(e),
        },
    };
    Ok(Committed {
        replies,
        ack_refused,
    })
}

/// An entry moved to the dead-letter stream.
pub(crate) struct DeadLetter<'a> {
    /// `<prefix>:dead:<service>`.
    pub(crate) stream: &'a str,
    /// `MAXLEN ~` of the dead-letter stream.
    pub(crate) max_len: usize,
    pub(crate) entry: &'a StreamEntry,
    pub(crate) reason: &'a str,
    pub(crate) deliveries: u64,
    /// The caller's answer (reply stream, JSON), for a request with a valid `reply-to`.
    pub(crate) reply: Option<(&'a str, &'a str)>,
}

/// Moves an entry to its dead-letter stream with its fields (in order) plus `dead-reason`,
/// `dead-entry-id` and `dead-deliveries`, answers its caller and acknowledges it, in one
/// transaction: all land or none (a refused reply must not leave an acknowledged entry without
/// its dead letter).
pub(crate) async fn dead_letter(
    c: &impl Conn,
    k: &GroupKeys,
    caps: ReplyCaps,
    d: DeadLetter<'_>,
) -> Result<(), RedisError> {
    if c.is_cluster() {
        return dead_letter_cluster(c, k, caps, d).await;
    }
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe.add_command(dead_letter_add(&d)).ignore();
    if let Some((to, json)) = d.reply {
        push_reply(&mut pipe, caps, to, json);
    }
    push_ack(&mut pipe, k, std::iter::once(d.entry.id.as_str()));
    c.pipe::<Value>(&pipe).await.map(drop)
}

/// `XADD <dead> MAXLEN ~ n * <the entry's fields> dead-reason … dead-entry-id … dead-deliveries …`:
/// the dead-letter entry, the same on one server and on a cluster.
fn dead_letter_add(d: &DeadLetter<'_>) -> Cmd {
    let mut add = redis::cmd("XADD");
    add.arg(d.stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(d.max_len)
        .arg("*");
    for (name, value) in &d.entry.fields {
        add.arg(name.as_slice()).arg(value.as_slice());
    }
    add.arg(fields::DEAD_REASON)
        .arg(d.reason)
        .arg(fields::DEAD_ENTRY_ID)
        .arg(&d.entry.id)
        .arg(fields::DEAD_DELIVERIES)
        .arg(d.deliveries);
    add
}

/// [`dead_letter`] on a cluster: the dead-letter entry, then the caller's answer, then the
/// `XACK`, each on its own key's node and each only after the one before landed (an entry is
/// never acknowledged without its dead letter; a retry may write the dead letter twice).
async fn dead_letter_cluster(
    c: &impl Conn,
    k: &GroupKeys,
    caps: ReplyCaps,
    d: DeadLetter<'_>,
) -> Result<(), RedisError> {
    c.query::<Value>(&dead_letter_add(&d)).await?;
    wait_replicas(c, caps, d.stream).await?;
    if let Some((to, json)) = d.reply {
        let mut pipe = redis::pipe();
        pipe.atomic();
        push_reply(&mut pipe, caps, to, json);
        c.pipe::<Value>(&pipe).await?;
        wait_replicas(c, caps, to).await?;
    }
    ack(c, k, std::slice::from_ref(&d.entry.id)).await
}

/// With [`ReplyCaps::replicas`]: `WAIT` on the node owning `key` for the write just made there,
/// so the acknowledgement written next (on another node) cannot outlive it in a failover. Too
/// few replicas is an error the commit retries, like a connection failure.
async fn wait_replicas(c: &impl Conn, caps: ReplyCaps, key: &str) -> Result<(), RedisError> {
    let Some(replicas) = caps.replicas else {
        return Ok(());
    };
    let acked: usize = c.query_at(&replicas.wait_cmd(), key).await?;
    if acked < replicas.count {
        let short = crate::replication::NotReplicated {
            acked,
            wanted: replicas.count,
        };
        return Err(RedisError::from(std::io::Error::other(short)));
    }
    Ok(())
}

// ---- the client's reply round -------------------------------------------------------------

/// One round of a client's reply loop, in one round trip on its dedicated connection:
/// optionally `XTRIM <stream> MINID <below>` (the replies already read), optionally
/// `XINFO STREAM <stream>`, then `XREAD BLOCK ms STREAMS <stream> <after>`.
pub(crate) struct ReplyRound<'a> {
    pub(crate) stream: &'a str,
    pub(crate) trim_below: Option<(u64, u64)>,
    pub(crate) stream_info: bool,
    pub(crate) block_ms: u64,
    pub(crate) after: &'a str,
}

/// What a [`ReplyRound`] found.
#[derive(Debug)]
pub(crate) struct ReplyRoundResult {
    /// Whether the trim (if one was asked) landed.
    pub(crate) trimmed: bool,
    /// `XINFO STREAM`, if asked, decoded; `None` also on Redis before 7.0 or any other shape.
    pub(crate) info: Option<StreamInfo>,
    /// The read, or the error Redis answered it with.
    pub(crate) read: Result<Entries, redis::ServerError>,
}

/// Runs a [`ReplyRound`]. An `Err` is a failure of the round trip itself.
pub(crate) async fn reply_round(
    c: &impl Conn,
    r: ReplyRound<'_>,
) -> Result<ReplyRoundResult, RedisError> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    if let Some((ms, seq)) = r.trim_below {
        pipe.cmd("XTRIM")
            .arg(r.stream)
            .arg("MINID")
            .arg(format!("{ms}-{seq}"));
    }
    if r.stream_info {
        pipe.cmd("XINFO").arg("STREAM").arg(r.stream);
    }
    pipe.cmd("XREAD")
        .arg("BLOCK")
        .arg(r.block_ms)
        .arg("STREAMS")
        .arg(r.stream)
        .arg(r.after);
    let mut values: Vec<Value> = c.pipe(&pipe).await?;
    let read = values.pop().unwrap_or(Value::Nil);
    let info = if r.stream_info { values.pop() } else { None };
    let trim = if r.trim_below.is_some() {
        values.pop()
    } else {
        None
    };
    if let Some(Value::ServerError(e)) = &trim {
        // A replica refused the trim: a failover demoted this node, and its reads may lag the
        // new primary's writes. The caller reconnects.
        if e.code() == "READONLY" {
            return Err(RedisError::from(e.clone()));
        }
    }
    let trimmed =
        r.trim_below.is_none() || trim.is_some_and(|v| !matches!(v, Value::ServerError(_)));
    let read = match read {
        Value::ServerError(e) => Err(e),
        v => Ok(reply::read_reply(&v)),
    };
    Ok(ReplyRoundResult {
        trimmed,
        info: info.as_ref().and_then(reply::stream_info),
        read,
    })
}

// ---- connection housekeeping ----------------------------------------------------------------

/// `CLIENT ID` of the connection it runs on (for `CLIENT UNBLOCK` from another one), on the
/// node owning `key` (where that connection will block).
pub(crate) async fn client_id(c: &impl Conn, key: &str) -> Result<i64, RedisError> {
    c.query_at(redis::cmd("CLIENT").arg("ID"), key).await
}

/// `CLIENT UNBLOCK <id>` on the node owning `key`: ends that connection's blocking read now (it
/// returns what it has). If the slot moved meanwhile, nothing is unblocked and the read ends at
/// its `BLOCK`.
pub(crate) async fn client_unblock(c: &impl Conn, id: i64, key: &str) -> Result<(), RedisError> {
    c.query_at::<Value>(redis::cmd("CLIENT").arg("UNBLOCK").arg(id), key)
        .await
        .map(drop)
}

/// `TIME`: Redis's clock (the clock of entry ids), in ms since the epoch.
pub(crate) async fn time_ms(c: &impl Conn) -> Result<i64, RedisError> {
    let (secs, micros): (i64, i64) = c.query(&redis::cmd("TIME")).await?;
    Ok(secs * 1000 + micros / 1000)
}
