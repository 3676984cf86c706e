//! In-process transport for clamator: the embedded default, nothing to install.
//!
//! A [`MemoryBus`] maps service names to dispatchers; servers and clients on the same bus talk
//! through it. Envelopes travel as values (never re-serialized), so a call costs a task spawn
//! and two serde value conversions. Semantics follow clamator's memory transport (spec §5): one
//! server per service per bus, `Method not found` when nobody serves a service, call timeouts,
//! and `transport stopped` for calls pending when a client stops. `client.discover(…)` and
//! `client.ping(…)` answer as over Redis (the same `Instance` / `Liveness` types), listing the
//! servers registered now, so code that checks for live servers is testable in-process.
//!
//! ```
//! # use clamator_protocol::*;
//! # use clamator_over_memory::MemoryBus;
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Add { a: f64, b: f64 }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Sum { sum: f64 }
//! const ADD: Method<Add, Sum> = Method::new("arith", "add");
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let contract = Contract::builder("arith").method(ADD).build()?;
//! let service = Service::builder(contract)
//!     .handle(ADD, |p: Add| async move { Ok::<_, RpcError>(Sum { sum: p.a + p.b }) })
//!     .build()?;
//!
//! let bus = MemoryBus::new();
//! let server = bus.server();
//! server.register_service(service)?;
//! server.start().await?;
//! let client = bus.client();
//! client.start().await?;
//! assert_eq!(client.call(ADD, &Add { a: 2.0, b: 3.0 }).await?.sum, 5.0);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bus;
mod client;
mod discovery;
mod server;
mod telemetry;

pub use bus::MemoryBus;
pub use client::{MemoryClientTransport, MemoryRpcClient};
pub use server::{MemoryRpcServer, MemoryServerTransport};
