//! Serves the `arith` service over Redis Streams until Ctrl-C.
//!
//! Run: `cargo run -p clamator-examples --bin redis_server` (Redis from `REDIS_URL`, else
//! `redis://localhost:6379`; key prefix from `CLAMATOR_PREFIX`, else `demo`). Any clamator
//! client on the same Redis and prefix can call it, e.g. the `redis_client` example.

use std::time::Duration;

use clamator::redis::{RedisRpcServer, RedisServerOptions};
use clamator::Error;
use clamator_examples::arith::{ArithContract, Calculator};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let prefix = std::env::var("CLAMATOR_PREFIX").unwrap_or_else(|_| "demo".into());
    // Connection from REDIS_URL (or localhost); a handler may run at most 30 s.
    let options =
        RedisServerOptions::new(&prefix).with_handler_timeout(Some(Duration::from_secs(30)));
    let server = RedisRpcServer::new(options);
    server.register_service(ArithContract::service(Calculator))?;
    server.start().await?;
    eprintln!(
        "serving arith on {prefix}:cmds:arith as consumer arith:{} (Ctrl-C to stop)",
        server.transport().instance_id()
    );

    let _ = tokio::signal::ctrl_c().await;
    // Running handlers get 5 s to finish; what does not finish stays pending for another server.
    server.stop(Duration::from_secs(5)).await;
    eprintln!("stopped: {:?}", server.transport().stats());
    Ok(())
}
