//! clamator interop server driver (spec §8.1), a drop-in for the upstream TS/Python drivers.
//!
//! stdin: `{"contract":"arith"|"notifications","redisUrl" (or "redisCluster"; optional
//! "tlsCaFile"),"keyPrefix","consumerClaimIdleMs",
//! "instanceId","generatedDir"}`; prints `READY` once serving; on SIGTERM writes
//! `HANDLED:<n>` (handler invocations) to stderr, and for `notifications` also
//! `{"pingedAt": <ms|null>}` to stdout, then exits. Exits by itself (status 3) if the process
//! that started it dies, so a crashed runner leaves no orphan serving on.
#![forbid(unsafe_code)]

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clamator::redis::{RedisRpcServer, RedisServerOptions};
use clamator_interop::connect::DriverRedis;
use clamator_interop::handlers::{arith, notifications, Counters};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    contract: String,
    #[serde(flatten)]
    redis: DriverRedis,
    key_prefix: String,
    #[serde(default = "default_claim_idle")]
    consumer_claim_idle_ms: u64,
    instance_id: Option<String>,
}

fn default_claim_idle() -> u64 {
    60_000
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    clamator_interop::orphan::exit_when_parent_dies()?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let config: Config = serde_json::from_str(&input)?;
    let mut options = RedisServerOptions::new(config.key_prefix)
        .with_connection(config.redis.connection_options()?)
        .with_claim_idle(Duration::from_millis(config.consumer_claim_idle_ms));
    if let Some(id) = config.instance_id {
        options = options.with_instance_id(id);
    }
    let server = RedisRpcServer::new(options);
    let counters = Arc::new(Counters::default());
    let service = match config.contract.as_str() {
        "arith" => arith(counters.clone()),
        "notifications" => notifications(counters.clone()),
        other => return Err(format!("unknown contract {other:?}").into()),
    };
    server.register_service(service)?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    server.start().await?;
    println!("READY");
    sigterm.recv().await;
    eprintln!("HANDLED:{}", counters.handled.load(Ordering::SeqCst));
    if config.contract == "notifications" {
        let at = counters.pinged_at.load(Ordering::SeqCst);
        let at = (at != 0).then_some(at);
        println!("{}", serde_json::json!({ "pingedAt": at }));
    }
    server.stop(Duration::from_secs(1)).await;
    Ok(())
}
