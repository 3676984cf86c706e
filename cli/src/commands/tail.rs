//! `clamator tail <service>`: follows new entries of the command stream with plain
//! `XREAD BLOCK` (never XREADGROUP), so watching changes nothing for the servers.

use std::time::{Duration, UNIX_EPOCH};

use clamator_over_redis::keys::{command_stream, fields};
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde_json::{json, Value as Json};

use crate::cli::{Global, TailArgs};
use crate::error::{CliError, CliResult};
use crate::output::{cut, Out};
use crate::store::{connect, entries, envelope_method, field, id_ms, pairs, prefix, text, Entry};

const BLOCK: Duration = Duration::from_millis(1_000);

/// `HH:MM:SS.mmm` (UTC) of an entry id.
pub fn entry_time(id: &str) -> String {
    let Some(ms) = id_ms(id) else {
        return "-".to_owned();
    };
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    let text = humantime::format_rfc3339_millis(at).to_string();
    text.get(11..23).unwrap_or(&text).to_owned()
}

/// The id the tail starts after: the stream's last generated id now, so nothing added after
/// the "following" note is missed (`$` would be resolved only when the first read arrives).
async fn start_id(con: &mut MultiplexedConnection, stream: &str) -> CliResult<String> {
    let info: redis::RedisResult<Value> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async(con)
        .await;
    match info {
        Ok(v) => Ok(field(&pairs(&v), "last-generated-id")
            .and_then(text)
            .unwrap_or_else(|| "0-0".to_owned())),
        // No stream yet: everything that will be added is new.
        Err(e) if e.to_string().contains("no such key") => Ok("0-0".to_owned()),
        Err(e) => Err(CliError::redis(&format!("XINFO STREAM {stream}"), &e)),
    }
}

fn row_json(service: &str, e: &Entry) -> Json {
    let (method, params) = e
        .get(fields::ENVELOPE)
        .and_then(envelope_method)
        .map_or((None, Json::Null), |(m, p)| (Some(m), p));
    let id = e
        .get(fields::ENVELOPE)
        .and_then(|t| serde_json::from_str::<Json>(t).ok())
        .and_then(|v| v.get("id").cloned());
    json!({
        "time": entry_time(&e.id), "entryId": e.id, "service": service, "method": method,
        "id": id, "params": params, "replyTo": e.get(fields::REPLY_TO),
        "kind": if e.get(fields::REPLY_TO).is_some() { "request" } else { "notification" },
    })
}

fn row_line(e: &Entry, width: usize) -> String {
    let (method, params) = e.get(fields::ENVELOPE).and_then(envelope_method).map_or(
        ("(unreadable envelope)".to_owned(), String::new()),
        |(m, p)| (m, p.to_string()),
    );
    let reply_to = e.get(fields::REPLY_TO).unwrap_or("(notification)");
    let head = format!("{}  {:<20}  {:<24}", entry_time(&e.id), e.id, method);
    let room = width
        .saturating_sub(head.chars().count() + reply_to.chars().count() + 4)
        .max(16);
    format!("{head}  {:<room$}  {reply_to}", cut(&params, room))
}

/// `clamator tail <service> [--count N]`.
pub async fn run(g: &Global, out: &Out, args: &TailArgs) -> CliResult {
    let prefix = prefix(g)?;
    let stream = command_stream(&prefix, &args.service);
    let mut con = connect(&g.redis_url, BLOCK + Duration::from_secs(10)).await?;
    let mut last = start_id(&mut con, &stream).await?;
    out.note(&format!(
        "following {stream} after {last} (read-only; Ctrl-C to stop)"
    ));
    let width = out.width();
    let mut seen = 0usize;
    if args.count == Some(0) {
        return Ok(());
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last);
        let read = cmd.query_async::<Value>(&mut con);
        let reply = tokio::select! {
            r = read => r.map_err(|e| CliError::redis(&format!("XREAD {stream}"), &e))?,
            _ = &mut ctrl_c => return Ok(()),
        };
        // XREAD: [[key, [entries…]]] (RESP2) or {key: [entries…]} (RESP3); nil on timeout.
        let batch = match &reply {
            Value::Array(streams) => streams
                .iter()
                .filter_map(|s| match s {
                    Value::Array(kv) if kv.len() == 2 => Some(entries(&kv[1])),
                    _ => None,
                })
                .flatten()
                .collect(),
            Value::Map(m) => m.iter().flat_map(|(_, v)| entries(v)).collect(),
            _ => Vec::new(),
        };
        for e in batch {
            last.clone_from(&e.id);
            if out.json {
                out.json_doc(&row_json(&args.service, &e));
            } else {
                out.line(&row_line(&e, width));
            }
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_times_are_utc_clock_times() {
        assert_eq!(entry_time("1764670000123-0"), "10:06:40.123");
        assert_eq!(entry_time("nope"), "-");
    }
}
