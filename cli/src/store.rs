//! Redis access for the inspection commands: connections, reading raw replies leniently
//! (RESP2 arrays or RESP3 maps, bytes or strings), stream entries and entry-id times.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};

use clamator_over_redis::keys::consumer_group_name;

use crate::cli::Global;
use crate::error::{CliError, CliResult};

/// The key prefix the command needs, from `--prefix` or `CLAMATOR_PREFIX`.
pub fn prefix(g: &Global) -> CliResult<String> {
    g.prefix.clone().ok_or_else(|| {
        CliError::usage("no key prefix given")
            .hint("pass --prefix <prefix> or set CLAMATOR_PREFIX to the servers' key prefix")
    })
}

/// Opens a multiplexed connection. `response_timeout` must exceed any `BLOCK` used on it.
pub async fn connect(url: &str, response_timeout: Duration) -> CliResult<MultiplexedConnection> {
    let client = redis::Client::open(url).map_err(|e| {
        CliError::usage(format!("invalid Redis URL \"{url}\": {e}"))
            .hint("use redis://host:port[/db]")
    })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| CliError::redis(&format!("cannot connect to Redis at {url}"), &e))
}

/// Runs one command, turning a failure into a transport error naming `what`.
pub async fn query<T: redis::FromRedisValue>(
    con: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    what: &str,
) -> CliResult<T> {
    cmd.query_async(con)
        .await
        .map_err(|e| CliError::redis(what, &e))
}

/// Redis's clock in Unix milliseconds (`TIME`), so ages do not depend on this machine's clock.
pub async fn redis_now_ms(con: &mut MultiplexedConnection) -> CliResult<u64> {
    let (secs, micros): (u64, u64) = query(con, &redis::cmd("TIME"), "TIME").await?;
    Ok(secs * 1000 + micros / 1000)
}

/// Text of a bulk or simple string (lossy UTF-8), or of a number.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Double(d) => Some(d.to_string()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// An integer reply, or a string holding one.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// Key/value pairs of a RESP3 map or a flat RESP2 `[k1, v1, k2, v2, …]` array.
pub fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v.clone())))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((text(k)?, v.clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Finds `name` in [`pairs`].
pub fn field<'a>(pairs: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// A stream entry with its fields as text, in stored order.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Entry id (`<ms>-<seq>`).
    pub id: String,
    /// Field/value pairs.
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Entries of an XRANGE / XREVRANGE reply, or of one stream of an XREAD reply.
pub fn entries(v: &Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Array(parts) if parts.len() == 2 => Some(Entry {
                id: text(&parts[0])?,
                fields: pairs(&parts[1])
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, text(&v)?)))
                    .collect(),
            }),
            _ => None,
        })
        .collect()
}

/// `XRANGE key id id`: the entry, if it still exists.
pub async fn entry_by_id(
    con: &mut MultiplexedConnection,
    key: &str,
    id: &str,
) -> CliResult<Option<Entry>> {
    let v: Value = query(
        con,
        redis::cmd("XRANGE").arg(key).arg(id).arg(id),
        &format!("XRANGE {key}"),
    )
    .await?;
    Ok(entries(&v).into_iter().next())
}

/// Whether the command stream has the service's consumer group (a server ever served it).
pub async fn has_group(con: &mut MultiplexedConnection, stream: &str, service: &str) -> bool {
    let groups: redis::RedisResult<Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(con)
        .await;
    let want = consumer_group_name(service);
    matches!(groups, Ok(Value::Array(gs)) if gs.iter().any(|g| {
        field(&pairs(g), "name").and_then(text).as_deref() == Some(want.as_str())
    }))
}

/// The millisecond timestamp of an entry id.
pub fn id_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// Whether `id` is a valid stream id (`<ms>-<seq>` or `<ms>`).
pub fn is_stream_id(id: &str) -> bool {
    let mut parts = id.splitn(2, '-');
    let ms_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ms_ok
        && parts
            .next()
            .is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The `<service>.<method>` and params of an envelope, if it parses.
pub fn envelope_method(envelope: &str) -> Option<(String, serde_json::Value)> {
    let v: serde_json::Value = serde_json::from_str(envelope).ok()?;
    let method = v.get("method")?.as_str()?.to_owned();
    let params = v.get("params").cloned().unwrap_or(serde_json::Value::Null);
    Some((method, params))
}

/// Escapes the glob characters of `s` for SCAN MATCH.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits `<service>.<method>` at its first dot.
pub fn split_target(target: &str) -> CliResult<(&str, &str)> {
    match target.split_once('.') {
        Some((s, m)) if !s.is_empty() && !m.is_empty() => Ok((s, m)),
        _ => Err(
            CliError::usage(format!("\"{target}\" is not <service>.<method>"))
                .hint("e.g. arith.add"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_targets() {
        assert_eq!(id_ms("1700000000000-3"), Some(1_700_000_000_000));
        assert!(is_stream_id("1-0") && is_stream_id("17"));
        assert!(!is_stream_id("1-") && !is_stream_id("x-1") && !is_stream_id(""));
        assert_eq!(split_target("arith.add").unwrap(), ("arith", "add"));
        assert!(split_target("arith").is_err() && split_target(".add").is_err());
        assert_eq!(glob_escape("a*b[c]"), "a\\*b\\[c\\]");
    }

    #[test]
    fn replies_are_read_in_both_protocols() {
        let flat = Value::Array(vec![
            Value::BulkString(b"name".to_vec()),
            Value::BulkString(b"arith".to_vec()),
            Value::BulkString(b"pending".to_vec()),
            Value::Int(2),
        ]);
        let p = pairs(&flat);
        assert_eq!(field(&p, "name").and_then(text).as_deref(), Some("arith"));
        assert_eq!(field(&p, "pending").and_then(int), Some(2));
        let map = Value::Map(vec![(Value::SimpleString("lag".into()), Value::Nil)]);
        assert_eq!(field(&pairs(&map), "lag"), Some(&Value::Nil));
    }
}
