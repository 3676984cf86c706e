//! The raw floor: the same request/reply stream pattern as the library, driven by a minimal
//! client and server on the plain `redis` crate, with no envelope parsing, no validation and no
//! bookkeeping beyond a correlation id:
//!
//! * client: `XADD <p>:cmds:arith MAXLEN ~ 10000 * type rpc envelope <json> reply-to <rs> corr <n>`
//!   on one multiplexed connection; one task reads `XREAD BLOCK 1000 STREAMS <rs> <last>` on a
//!   dedicated connection and wakes the caller whose `corr` came back;
//! * server: one loop `XREADGROUP … COUNT 128 BLOCK 1000 … >`, then for the whole batch one
//!   pipeline of `XADD <reply-to> MAXLEN ~ 1024 * type rpc envelope <same json> corr <n>` +
//!   `XACK`.
//!
//! `MAXLEN ~ 10000` on the command stream only keeps Redis memory bounded (the floor does not
//! delete entries); it trims whole macro nodes and costs next to nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One stream entry: id and field/value pairs.
pub(crate) type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn pairs(v: &Value) -> Vec<(Value, Value)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
        Value::Map(m) => m.clone(),
        _ => Vec::new(),
    }
}

/// The entries of an `XREAD` / `XREADGROUP` reply (RESP2 arrays or RESP3 maps).
pub(crate) fn entries(reply: &Value) -> Vec<Entry> {
    let streams: Vec<Value> = match reply {
        Value::Array(items) => items
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Some(kv[1].clone()),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m.iter().map(|(_, v)| v.clone()).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(list) = s else { continue };
        for e in list {
            let Value::Array(parts) = e else { continue };
            if parts.len() != 2 {
                continue;
            }
            let Some(id) = bytes(&parts[0]).and_then(|b| String::from_utf8(b).ok()) else {
                continue;
            };
            let fields = pairs(&parts[1])
                .iter()
                .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
                .collect();
            out.push((id, fields));
        }
    }
    out
}

fn field<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| v.as_slice())
}

/// A connection without response timeout, for `BLOCK` reads.
async fn blocking_conn(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let cfg = AsyncConnectionConfig::new().set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// The raw floor's client.
pub(crate) struct RawClient {
    conn: MultiplexedConnection,
    cmd_stream: String,
    reply_stream: String,
    waiters: Waiters,
    next: AtomicU64,
    reader: JoinHandle<()>,
}

impl RawClient {
    /// Connects and starts the reply reader.
    pub(crate) async fn start(client: &redis::Client, prefix: &str) -> redis::RedisResult<Self> {
        let conn = client.get_multiplexed_async_connection().await?;
        let reply_stream = format!("{prefix}:replies:{}", uuid::Uuid::new_v4());
        let waiters: Waiters = Arc::default();
        let mut rconn = blocking_conn(client).await?;
        let (w, rs) = (waiters.clone(), reply_stream.clone());
        let reader = tokio::spawn(async move {
            let mut last = "0-0".to_owned();
            loop {
                let mut cmd = redis::cmd("XREAD");
                cmd.arg("BLOCK")
                    .arg(1000)
                    .arg("STREAMS")
                    .arg(&rs)
                    .arg(&last);
                let Ok(v) = cmd.query_async::<Value>(&mut rconn).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                for (id, fields) in entries(&v) {
                    let corr = field(&fields, "corr")
                        .and_then(|c| std::str::from_utf8(c).ok())
                        .and_then(|c| c.parse::<u64>().ok());
                    if let Some(tx) = corr.and_then(|c| lock(&w).remove(&c)) {
                        let _ = tx.send(());
                    }
                    last = id;
                }
            }
        });
        Ok(Self {
            conn,
            cmd_stream: format!("{prefix}:cmds:arith"),
            reply_stream,
            waiters,
            next: AtomicU64::new(1),
            reader,
        })
    }

    /// One call: `params_json` is the params object's JSON text.
    pub(crate) async fn call(&self, method: &str, params_json: &str) -> Result<(), String> {
        let corr = self.next.fetch_add(1, Ordering::Relaxed);
        let envelope = format!(
            r#"{{"jsonrpc":"2.0","id":"{corr}","method":"arith.{method}","params":{params_json}}}"#
        );
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(corr, tx);
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.cmd_stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("type")
            .arg("rpc")
            .arg("envelope")
            .arg(&envelope)
            .arg("reply-to")
            .arg(&self.reply_stream)
            .arg("corr")
            .arg(corr);
        let mut conn = self.conn.clone();
        if let Err(e) = cmd.query_async::<Value>(&mut conn).await {
            lock(&self.waiters).remove(&corr);
            return Err(format!("xadd failed: {e}"));
        }
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                lock(&self.waiters).remove(&corr);
                Err("raw call timeout".into())
            }
        }
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn lock<V>(m: &Mutex<V>) -> std::sync::MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The raw floor's server loop, until `stop` resolves (then the current read finishes).
pub(crate) async fn serve(
    client: &redis::Client,
    prefix: &str,
    stop: impl std::future::Future<Output = ()>,
) -> redis::RedisResult<()> {
    let stream = format!("{prefix}:cmds:arith");
    let consumer = format!("arith:{}", uuid::Uuid::new_v4());
    let mut wconn = client.get_multiplexed_async_connection().await?;
    let mut rconn = blocking_conn(client).await?;
    let created: redis::RedisResult<Value> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("arith")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut wconn)
        .await;
    if let Err(e) = created {
        if e.code() != Some("BUSYGROUP") {
            return Err(e);
        }
    }
    println!("READY");
    tokio::pin!(stop);
    loop {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg("arith")
            .arg(&consumer)
            .arg("COUNT")
            .arg(128)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">");
        let v = tokio::select! {
            () = &mut stop => return Ok(()),
            v = cmd.query_async::<Value>(&mut rconn) => v?,
        };
        let batch = entries(&v);
        if batch.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for (id, fields) in &batch {
            if let (Some(to), Some(env)) = (field(fields, "reply-to"), field(fields, "envelope")) {
                pipe.cmd("XADD")
                    .arg(to)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(1024)
                    .arg("*")
                    .arg("type")
                    .arg("rpc")
                    .arg("envelope")
                    .arg(env)
                    .arg("corr")
                    .arg(field(fields, "corr").unwrap_or(b"0"))
                    .ignore();
            }
            pipe.cmd("XACK").arg(&stream).arg("arith").arg(id).ignore();
        }
        pipe.query_async::<()>(&mut wconn).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_resp2_xread_reply() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("p:replies:x"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("corr"), bulk("7"), bulk("envelope"), bulk("{}")]),
            ])]),
        ])]);
        let e = entries(&reply);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "1-0");
        assert_eq!(field(&e[0].1, "corr"), Some(&b"7"[..]));
        assert_eq!(field(&e[0].1, "missing"), None);
        assert!(entries(&Value::Nil).is_empty());
    }
}
