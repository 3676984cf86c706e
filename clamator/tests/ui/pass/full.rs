//! Every method form, implemented with `async fn`, used through all generated items.
#![deny(missing_docs, warnings)]

use std::sync::Arc;
use std::time::Duration;

use clamator::memory::MemoryBus;
use clamator::{HandlerError, JsonSchema, Method, NotificationMethod, RpcError, ServiceContract};
use serde::{Deserialize, Serialize};

/// Two numbers.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct Pair {
    /// Left.
    pub a: f64,
    /// Right.
    pub b: f64,
}

/// A number.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
pub struct Num {
    /// The value.
    pub n: f64,
}

/// A failure that is not an RPC error.
#[derive(Debug)]
pub struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

impl std::error::Error for Oops {}

/// Every supported method form.
#[clamator::service(name = "calc-2")]
pub trait Calc {
    /// Plain request, `RpcError`.
    async fn add(&self, params: Pair) -> Result<Num, RpcError>;
    /// snake_case → camelCase, `HandlerError`.
    async fn mul_all(&self, params: Pair) -> Result<Num, HandlerError>;
    /// Own error type, fully qualified `Result`.
    #[clamator(rename = "sub")]
    async fn minus(&self, params: Pair) -> std::result::Result<Num, Oops>;
    /// Raw identifier.
    async fn r#type(&self, params: Num) -> Result<(), RpcError>;
    /// Notification returning nothing.
    #[clamator(notification)]
    async fn ping(&self, params: Num);
    /// Notification returning a result, attributes combined.
    #[clamator(notification, rename = "tick2")]
    async fn tick(&self, params: Num) -> Result<(), HandlerError>;
}

struct Impl;

impl Calc for Impl {
    async fn add(&self, p: Pair) -> Result<Num, RpcError> {
        Ok(Num { n: p.a + p.b })
    }
    async fn mul_all(&self, p: Pair) -> Result<Num, HandlerError> {
        Ok(Num { n: p.a * p.b })
    }
    async fn minus(&self, _: Pair) -> Result<Num, Oops> {
        Err(Oops)
    }
    async fn r#type(&self, _: Num) -> Result<(), RpcError> {
        Ok(())
    }
    async fn ping(&self, _: Num) {}
    async fn tick(&self, _: Num) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// A service implemented without `async fn` sugar: any `Send` future will do.
struct Manual;

impl Calc for Manual {
    fn add(&self, p: Pair) -> impl std::future::Future<Output = Result<Num, RpcError>> + Send {
        std::future::ready(Ok(Num { n: p.a + p.b }))
    }
    async fn mul_all(&self, _: Pair) -> Result<Num, HandlerError> {
        Err(HandlerError::internal("Nope", "not here"))
    }
    async fn minus(&self, _: Pair) -> Result<Num, Oops> {
        Err(Oops)
    }
    async fn r#type(&self, _: Num) -> Result<(), RpcError> {
        Ok(())
    }
    async fn ping(&self, _: Num) {}
    async fn tick(&self, _: Num) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let _: Method<Pair, Num> = CalcContract::ADD;
    let _: Method<Pair, Num> = CalcContract::MUL_ALL;
    let _: Method<Pair, Num> = CalcContract::MINUS;
    let _: Method<Num, ()> = CalcContract::TYPE;
    let _: NotificationMethod<Num> = CalcContract::PING;
    let _: NotificationMethod<Num> = CalcContract::TICK;
    assert_eq!(CalcContract::MUL_ALL.name(), "mulAll");
    assert_eq!(CalcContract::MINUS.name(), "sub");
    assert_eq!(CalcContract::TICK.name(), "tick2");
    assert_eq!(<CalcContract as ServiceContract>::SERVICE_NAME, "calc-2");
    let _ = CalcContract::contract();
    let _ = CalcContract::service(Impl);
    let _ = CalcContract::service_from_arc(Arc::new(Manual));
    let _ = CalcContract::manifest_entries().unwrap();

    let bus = MemoryBus::new();
    let core = bus.client();
    let by_ref = CalcClient::new(&core);
    // Client futures are Send, so they can be spawned.
    let _ = assert_send(by_ref.add(&Pair { a: 1.0, b: 2.0 }));
    let _ = assert_send(by_ref.mul_all_with_timeout(&Pair { a: 1.0, b: 2.0 }, Duration::ZERO));
    let _ = assert_send(by_ref.r#type(&Num { n: 0.0 }));
    let _ = assert_send(by_ref.ping(&Num { n: 0.0 }));
    let shared = CalcClient::new(Arc::new(bus.client()));
    let _ = shared.clone().tick(&Num { n: 1.0 });
    let _core: &Arc<_> = shared.core();
    // Server futures are Send too.
    let _ = assert_send(Impl.add(Pair { a: 1.0, b: 2.0 }));
}
