//! Calls the `arith` service over Redis Streams (start `redis_server` first).
//!
//! Run: `cargo run -p clamator-examples --bin redis_client` (Redis from `REDIS_URL`, else
//! `redis://localhost:6379`; key prefix from `CLAMATOR_PREFIX`, else `demo`).

use std::sync::Arc;
use std::time::Duration;

use clamator::redis::{RedisClientOptions, RedisRpcClient};
use clamator::{Error, TransportError};
use clamator_examples::arith::{AddParams, ArithClient, SlowAddParams, Text};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let prefix = std::env::var("CLAMATOR_PREFIX").unwrap_or_else(|_| "demo".into());
    let client = Arc::new(RedisRpcClient::new(RedisClientOptions::new(prefix)));
    client.start().await?;
    // The typed client the macro derived from the `Arith` trait.
    let arith = ArithClient::new(client.clone());

    match arith.add(&AddParams { a: 2.0, b: 3.0 }).await {
        Ok(sum) => println!("arith.add(2, 3) = {}", sum.sum),
        Err(Error::Transport(TransportError::NoServer { service })) => {
            eprintln!("nobody serves \"{service}\" yet: start `cargo run -p clamator-examples --bin redis_server`");
            client.stop().await;
            std::process::exit(1);
        }
        Err(e) => return Err(e),
    }

    match arith.divide(&AddParams { a: 1.0, b: 0.0 }).await {
        Err(Error::Rpc(e)) => println!("arith.divide(1, 0) -> error {}: {}", e.code, e.message),
        other => println!("arith.divide(1, 0) -> unexpected {other:?}"),
    }

    let echo = arith
        .echo_text(&Text {
            text: "héllo, wörld".into(),
        })
        .await?;
    println!("arith.echoText -> {:?}", echo.text);

    // Ten slow calls at once: the server runs them concurrently (~200 ms in total, not 2 s).
    let started = std::time::Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10 {
        let arith = ArithClient::new(client.clone());
        calls.spawn(async move {
            let p = SlowAddParams {
                a: f64::from(i),
                b: 1.0,
                sleep_ms: 200,
            };
            arith.slow_add(&p).await
        });
    }
    while let Some(r) = calls.join_next().await {
        r.expect("call task")?;
    }
    println!(
        "10 concurrent slowAdd(200 ms) calls took {:?}",
        started.elapsed()
    );

    // A call whose caller gives up: the server will skip it if it has not started it yet.
    let quick = arith
        .slow_add_with_timeout(
            &SlowAddParams {
                a: 1.0,
                b: 1.0,
                sleep_ms: 1_000,
            },
            Duration::from_millis(100),
        )
        .await;
    println!(
        "slowAdd(1 s) with a 100 ms timeout -> {}",
        quick.map_or_else(|e| e.to_string(), |s| s.sum.to_string())
    );

    client.stop().await;
    Ok(())
}
