//! clamator interop client driver (spec §8.1), a drop-in for the upstream TS/Python drivers.
//!
//! stdin: `{"redisUrl" (or "redisCluster"; optional "tlsCaFile"),"keyPrefix","defaultTimeoutMs",
//! "calls":[{"method":"<svc>.<m>",
//! "params","notification"}],"concurrent"}`; stdout: `{"results":[…]}` with one object per
//! call (`result`, `notification`, `rpc-error`, `transport-error`, `unknown-error`). With
//! `concurrent: N` the whole call list runs N times at once, every call of every fan in flight
//! together; results keep fan order, then call order. A call's `params` are sent exactly as
//! given, `null` included; only an absent key becomes `{}` (as the Python driver's
//! `call.get("params", {})`). Exits by itself (status 3) if the process that started it dies.
#![forbid(unsafe_code)]

use std::io::Read;
use std::time::Duration;

use clamator::redis::{RedisClientOptions, RedisRpcClient};
use clamator::Error;
use clamator_interop::connect::DriverRedis;
use futures_util::future::join_all;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(flatten)]
    redis: DriverRedis,
    key_prefix: String,
    #[serde(default = "default_timeout")]
    default_timeout_ms: u64,
    calls: Vec<Call>,
    #[serde(default)]
    concurrent: Option<usize>,
}

fn default_timeout() -> u64 {
    5_000
}

#[derive(Deserialize)]
struct Call {
    method: String,
    /// `None` only when the key is absent: `"params": null` is `Some(Value::Null)`.
    #[serde(default, deserialize_with = "present")]
    params: Option<Value>,
    #[serde(default)]
    notification: bool,
}

/// Deserializes a present key, `null` included, as `Some` (plain `Option` reads `null` as
/// `None`, which would turn `"params": null` into `{}`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

async fn one(client: &RedisRpcClient, call: &Call) -> Value {
    let (service, method) = call.method.split_once('.').unwrap_or((&call.method, ""));
    let params = call.params.clone().unwrap_or_else(|| json!({}));
    let outcome = if call.notification {
        client
            .notify_raw(service, method, params)
            .await
            .map(|()| json!({ "ok": true, "kind": "notification" }))
    } else {
        client
            .call_raw(service, method, params, None)
            .await
            .map(|result| json!({ "ok": true, "kind": "result", "result": result }))
    };
    outcome.unwrap_or_else(|err| match err {
        Error::Rpc(e) => json!({
            "ok": false, "kind": "rpc-error", "code": e.code, "message": e.message, "data": e.data,
        }),
        Error::Transport(e) => {
            json!({ "ok": false, "kind": "transport-error", "message": e.to_string() })
        }
        other => json!({ "ok": false, "kind": "unknown-error", "message": other.to_string() }),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    clamator_interop::orphan::exit_when_parent_dies()?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let config: Config = serde_json::from_str(&input)?;
    let options = RedisClientOptions::new(config.key_prefix)
        .with_connection(config.redis.connection_options()?)
        .with_default_timeout(Duration::from_millis(config.default_timeout_ms));
    let client = RedisRpcClient::new(options);
    client.start().await?;
    let results: Vec<Value> = match config.concurrent {
        Some(n) if n > 1 => {
            let fans = (0..n).map(|_| join_all(config.calls.iter().map(|c| one(&client, c))));
            join_all(fans).await.into_iter().flatten().collect()
        }
        _ => {
            let mut results = Vec::with_capacity(config.calls.len());
            for call in &config.calls {
                results.push(one(&client, call).await);
            }
            results
        }
    };
    client.stop().await;
    println!("{}", json!({ "results": results }));
    Ok(())
}
