//! Quickstart: serve the `arith` service on the in-memory bus and call it.
//!
//! Run: `cargo run --bin quickstart`

use clamator::memory::MemoryBus;
use clamator::Error;
use clamator_examples::arith::{AddParams, ArithClient, ArithContract, Calculator};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Server-side log events (handler failures) go to stderr; RUST_LOG=warn shows more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let bus = MemoryBus::new();
    let server = bus.server();
    // The macro turned the `Arith` trait into a contract; `Calculator` implements it.
    server.register_service(ArithContract::service(Calculator))?;
    server.start().await?;

    let core = bus.client();
    core.start().await?;
    let arith = ArithClient::new(&core);

    let sum = arith.add(&AddParams { a: 2.0, b: 3.0 }).await?;
    println!("arith.add(2, 3) = {}", sum.sum);

    match arith.divide(&AddParams { a: 1.0, b: 0.0 }).await {
        Err(Error::Rpc(e)) => println!("arith.divide(1, 0) -> error {}: {}", e.code, e.message),
        other => println!("arith.divide(1, 0) -> unexpected {other:?}"),
    }

    // A caller in another language may send anything: "two" is not a number.
    let bad = json!({ "a": "two", "b": 3 });
    match core.call_raw("arith", "add", bad, None).await {
        Err(Error::Rpc(e)) => println!(
            "arith.add(\"two\", 3) -> error {}: {}\n  data: {}",
            e.code, e.message, e.data
        ),
        other => println!("arith.add(\"two\", 3) -> unexpected {other:?}"),
    }

    core.stop().await;
    server.stop(clamator::DEFAULT_STOP_GRACE).await;
    Ok(())
}
