//! clamator interop server driver (spec §8.1), a drop-in for the upstream TS/Python drivers.
//!
//! stdin: `{"contract":"arith"|"notifications","redisUrl","keyPrefix","consumerClaimIdleMs",
//! "instanceId","generatedDir"}`; prints `READY` once serving; on SIGTERM writes
//! `HANDLED:<n>` (handler invocations) to stderr, and for `notifications` also
//! `{"pingedAt": <ms|null>}` to stdout, then exits.

use std::io::Read;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clamator_interop::contracts::{
    self, AddParams, PingParams, QuotientResult, SlowAddParams, SumResult, Text,
};
use clamator_over_redis::{RedisRpcServer, RedisServerOptions};
use clamator_protocol::{RpcError, Service};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    contract: String,
    redis_url: String,
    key_prefix: String,
    #[serde(default = "default_claim_idle")]
    consumer_claim_idle_ms: u64,
    instance_id: Option<String>,
}

fn default_claim_idle() -> u64 {
    60_000
}

#[derive(Default)]
struct Counters {
    handled: AtomicUsize,
    pinged_at: AtomicI64,
}

fn arith(counters: Arc<Counters>) -> Result<Service, clamator_protocol::Error> {
    let c = [
        counters.clone(),
        counters.clone(),
        counters.clone(),
        counters,
    ];
    let [c1, c2, c3, c4] = c;
    Service::builder(contracts::arith()?)
        .handle(contracts::ADD, move |p: AddParams| {
            c1.handled.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(SumResult { sum: p.a + p.b }) }
        })
        .handle(contracts::SLOW_ADD, move |p: SlowAddParams| {
            c2.handled.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                Ok::<_, RpcError>(SumResult { sum: p.a + p.b })
            }
        })
        .handle(contracts::DIVIDE, move |p: AddParams| {
            c3.handled.fetch_add(1, Ordering::SeqCst);
            async move {
                if p.b == 0.0 {
                    return Err(RpcError::new(-32000, "division by zero"));
                }
                Ok(QuotientResult { q: p.a / p.b })
            }
        })
        .handle(contracts::ECHO_TEXT, move |p: Text| {
            c4.handled.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(p) }
        })
        .build()
}

fn notifications(counters: Arc<Counters>) -> Result<Service, clamator_protocol::Error> {
    Service::builder(contracts::notifications()?)
        .on_notification(contracts::PING, move |_p: PingParams| {
            counters.handled.fetch_add(1, Ordering::SeqCst);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            counters.pinged_at.store(now, Ordering::SeqCst);
            async {}
        })
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let config: Config = serde_json::from_str(&input)?;
    let mut options = RedisServerOptions::new(config.key_prefix)
        .with_redis_url(config.redis_url)
        .with_claim_idle(Duration::from_millis(config.consumer_claim_idle_ms));
    if let Some(id) = config.instance_id {
        options = options.with_instance_id(id);
    }
    let server = RedisRpcServer::new(options)?;
    let counters = Arc::new(Counters::default());
    let service = match config.contract.as_str() {
        "arith" => arith(counters.clone())?,
        "notifications" => notifications(counters.clone())?,
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
