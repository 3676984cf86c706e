//! Quickstart: serve the `arith` service on the in-memory bus and call it.
//!
//! Run: `cargo run --bin quickstart`

use clamator_examples::arith::{self, AddParams};
use clamator_over_memory::MemoryBus;
use clamator_protocol::Error;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Server-side log events (handler failures, invalid params) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let bus = MemoryBus::new();
    let server = bus.server();
    server.register_service(arith::service()?)?;
    server.start().await?;

    let client = bus.client();
    client.start().await?;

    let sum = client
        .call(arith::ADD, &AddParams { a: 2.0, b: 3.0 })
        .await?;
    println!("arith.add(2, 3) = {}", sum.sum);

    match client
        .call(arith::DIVIDE, &AddParams { a: 1.0, b: 0.0 })
        .await
    {
        Err(Error::Rpc(e)) => println!("arith.divide(1, 0) -> error {}: {}", e.code, e.message),
        other => println!("arith.divide(1, 0) -> unexpected {other:?}"),
    }

    // A caller in another language may send anything: "two" is not a number.
    let bad = json!({ "a": "two", "b": 3 });
    match client.call_raw("arith", "add", bad, None).await {
        Err(Error::Rpc(e)) => println!(
            "arith.add(\"two\", 3) -> error {}: {}\n  data: {}",
            e.code, e.message, e.data
        ),
        other => println!("arith.add(\"two\", 3) -> unexpected {other:?}"),
    }

    client.stop().await;
    server.stop(clamator_protocol::DEFAULT_STOP_GRACE).await;
    Ok(())
}
