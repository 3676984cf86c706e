//! Presence commands (heartbeat, withdraw, discovery reads, dead-consumer removal). Every
//! command names the one key it touches, so a cluster connection can route each; a heartbeat is
//! a pipeline of such commands, not a transaction.

use redis::{RedisError, Value};

use super::{reply, Conn};

/// The keys one instance of one service publishes to.
#[derive(Debug, Clone)]
pub(crate) struct PresenceKeys {
    /// `<prefix>:presence` (service index).
    pub(crate) services: String,
    /// `<prefix>:presence:<service>` (instance index).
    pub(crate) instances: String,
    /// `<prefix>:presence:<service>:<instance>` (the record).
    pub(crate) record: String,
    pub(crate) service: String,
    pub(crate) instance_id: String,
}

/// One heartbeat of one service: what to write and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Beat<'a> {
    pub(crate) record_json: &'a str,
    pub(crate) ttl_ms: u64,
    /// When the record expires, on Redis's clock (the index score).
    pub(crate) expires_at_ms: i64,
    /// How long the index keys outlive the last heartbeat.
    pub(crate) index_retention_ms: u64,
}

/// Adds one service's heartbeat to a pipeline: `SET <record> <json> PX ttl`, `ZADD <instances>
/// <expiry> <id>`, `PEXPIRE <instances>`, `ZADD <services> GT <expiry> <service>`, `PEXPIRE
/// <services>`.
pub(crate) fn push_beat(pipe: &mut redis::Pipeline, k: &PresenceKeys, beat: Beat<'_>) {
    pipe.cmd("SET")
        .arg(&k.record)
        .arg(beat.record_json)
        .arg("PX")
        .arg(beat.ttl_ms.max(1))
        .ignore();
    pipe.cmd("ZADD")
        .arg(&k.instances)
        .arg(beat.expires_at_ms)
        .arg(&k.instance_id)
        .ignore();
    pipe.cmd("PEXPIRE")
        .arg(&k.instances)
        .arg(beat.index_retention_ms.max(1))
        .ignore();
    pipe.cmd("ZADD")
        .arg(&k.services)
        .arg("GT")
        .arg(beat.expires_at_ms)
        .arg(&k.service)
        .ignore();
    pipe.cmd("PEXPIRE")
        .arg(&k.services)
        .arg(beat.index_retention_ms.max(1))
        .ignore();
}

/// Adds a withdrawal to a pipeline: `DEL <record>` and `ZADD <instances> XX 0 <id>` (the member
/// stays, expired, so the instance's consumer can still be removed once it has nothing
/// pending).
pub(crate) fn push_withdraw(pipe: &mut redis::Pipeline, k: &PresenceKeys) {
    pipe.cmd("DEL").arg(&k.record).ignore();
    pipe.cmd("ZADD")
        .arg(&k.instances)
        .arg("XX")
        .arg(0)
        .arg(&k.instance_id)
        .ignore();
}

/// Most members one read returns: far more instances than one service runs.
pub(crate) const MAX_MEMBERS: usize = 1000;

/// `ZRANGE <key> 0 <MAX-1> WITHSCORES`: members and scores (service or instance index).
pub(crate) async fn members(c: &impl Conn, key: &str) -> Result<Vec<(String, f64)>, RedisError> {
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(key).arg(0).arg(MAX_MEMBERS - 1).arg("WITHSCORES");
    let v: Value = c.query(&cmd).await?;
    Ok(scored(&v))
}

/// `ZRANGEBYSCORE <instances> -inf (<now> LIMIT 0 n`: instances whose record expired.
pub(crate) async fn expired_members(
    c: &impl Conn,
    key: &str,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<String>, RedisError> {
    let mut cmd = redis::cmd("ZRANGEBYSCORE");
    cmd.arg(key)
        .arg("-inf")
        .arg(format!("({now_ms}"))
        .arg("LIMIT")
        .arg(0)
        .arg(limit);
    let v: Value = c.query(&cmd).await?;
    Ok(list(&v).iter().filter_map(reply::string).collect())
}

/// `ZREM <instances> <id>`.
pub(crate) async fn remove_member(c: &impl Conn, key: &str, id: &str) -> Result<(), RedisError> {
    c.query::<Value>(redis::cmd("ZREM").arg(key).arg(id))
        .await
        .map(drop)
}

/// `GET` of each record, pipelined (one key per command): `None` where the record is gone.
pub(crate) async fn records(
    c: &impl Conn,
    keys: &[String],
) -> Result<Vec<Option<String>>, RedisError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("GET").arg(k);
    }
    let values = pipe_per_key(c, &pipe).await?;
    Ok(values
        .iter()
        .map(|v| match v {
            Value::Nil => None,
            other => reply::string(other),
        })
        .collect())
}

/// `EXISTS <record>`.
pub(crate) async fn record_exists(c: &impl Conn, key: &str) -> Result<bool, RedisError> {
    let n: i64 = c.query(redis::cmd("EXISTS").arg(key)).await?;
    Ok(n > 0)
}

/// What [`delete_idle_consumer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The consumer had nothing pending and was idle long enough: deleted.
    Deleted,
    /// It has pending entries or read recently: kept.
    Kept,
    /// The group has no such consumer (already removed, or never read).
    Absent,
}

/// Checks and deletes in one step, inside Redis, so no entry can become pending between the
/// check and the delete (`XGROUP DELCONSUMER` would drop it from the pending list, and then
/// nobody would ever reclaim it). Keys: the stream; args: group, consumer, min idle (ms).
const DELETE_IF_IDLE: &str = r"
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] == ARGV[2] then
    if tonumber(f['pending']) == 0 and tonumber(f['idle']) >= tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 2
";

/// `EVAL` of [`DELETE_IF_IDLE`] on the command stream: deletes `consumer` only if its pending
/// list is empty and it has been idle for `min_idle_ms`.
pub(crate) async fn delete_idle_consumer(
    c: &impl Conn,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle_ms: u64,
) -> Result<Removal, RedisError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(DELETE_IF_IDLE)
        .arg(1)
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms);
    let n: i64 = c.query(&cmd).await?;
    Ok(match n {
        1 => Removal::Deleted,
        2 => Removal::Absent,
        _ => Removal::Kept,
    })
}

fn list(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

fn score(v: &Value) -> Option<f64> {
    match v {
        Value::Double(d) => Some(*d),
        other => reply::string(other)?.parse().ok(),
    }
}

/// `WITHSCORES` replies: flat `[m, s, m, s]` (RESP2) or `[[m, s], …]` (RESP3).
fn scored(v: &Value) -> Vec<(String, f64)> {
    let items = list(v);
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        return items
            .iter()
            .filter_map(|pair| match list(pair) {
                [m, s] => Some((reply::string(m)?, score(s)?)),
                _ => None,
            })
            .collect();
    }
    items
        .chunks_exact(2)
        .filter_map(|c| Some((reply::string(&c[0])?, score(&c[1])?)))
        .collect()
}

/// Runs a pipeline of single-key commands in one round trip; on a cluster, where a pipeline
/// may not span slots, each command on its own (concurrently, each routed to its key's node).
/// Not a transaction either way.
pub(crate) async fn pipe_per_key(
    c: &impl Conn,
    pipe: &redis::Pipeline,
) -> Result<Vec<Value>, RedisError> {
    if !c.is_cluster() {
        return c.pipe(pipe).await;
    }
    futures_util::future::try_join_all(pipe.cmd_iter().map(|cmd| c.query::<Value>(cmd))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn scores_decode_in_both_protocols() {
        let resp2 = Value::Array(vec![bulk("a"), bulk("12"), bulk("b"), bulk("3.5")]);
        let resp3 = Value::Array(vec![
            Value::Array(vec![bulk("a"), Value::Double(12.0)]),
            Value::Array(vec![bulk("b"), Value::Double(3.5)]),
        ]);
        let want = vec![("a".to_owned(), 12.0), ("b".to_owned(), 3.5)];
        assert_eq!(scored(&resp2), want);
        assert_eq!(scored(&resp3), want);
        assert!(scored(&Value::Nil).is_empty());
        assert!(scored(&Value::Array(vec![bulk("a")])).is_empty());
    }
}
