//! Handlers may return `anyhow::Result<T>` and `Result<T, Box<dyn Error + Send + Sync>>` (both
//! were E0277 before), next to their own error types and `RpcError`. Each becomes the answer
//! the caller gets: `-32603` with `{"name","message"}`, or the `RpcError` unchanged.

use clamator_protocol::{
    Contract, Dispatcher, Envelope, InFlight, Method, Request, RpcError, Service,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u32,
}

const ANYHOW: Method<Order, Order> = Method::new("shop", "viaAnyhow");
const BOXED: Method<Order, Order> = Method::new("shop", "viaBox");
const RPC: Method<Order, Order> = Method::new("shop", "viaRpc");

fn service() -> Service {
    let contract = Contract::builder("shop")
        .method(ANYHOW)
        .method(BOXED)
        .method(RPC)
        .build()
        .unwrap();
    Service::builder(contract)
        .handle(ANYHOW, |o: Order| async move {
            use anyhow::Context;
            match o.id {
                0 => Err(std::io::Error::other("disk gone")).context("saving the order")?,
                1 => Err(RpcError::new(-32010, "out of stock"))?,
                2 => anyhow::bail!("order {} is locked", o.id),
                _ => Ok(o),
            }
        })
        .handle(BOXED, |o: Order| async move {
            if o.id == 0 {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(std::io::Error::other("disk gone"));
                return Err(e);
            }
            if o.id == 1 {
                return Err(RpcError::new(-32010, "out of stock").into());
            }
            "7".parse::<u8>()?; // `?` on any std error into the box
            Ok(o)
        })
        .handle(RPC, |o: Order| async move {
            if o.id == 0 {
                return Err(RpcError::new(-32010, "out of stock"));
            }
            Ok(o)
        })
        .build()
        .unwrap()
}

async fn call(d: &Dispatcher, method: &'static str, id: u32) -> Result<Value, RpcError> {
    d.dispatch(Envelope::Request(Request {
        id: "r1".into(),
        service: "shop".into(),
        method: method.into(),
        params: json!({ "id": id }),
    }))
    .await
    .expect("a request is answered")
    .outcome
}

#[tokio::test]
async fn anyhow_results_are_answered() {
    let d = Dispatcher::new(service(), InFlight::default());
    assert_eq!(call(&d, "viaAnyhow", 9).await, Ok(json!({"id": 9})));
    let failed = call(&d, "viaAnyhow", 0).await.unwrap_err();
    assert_eq!(
        (failed.code, failed.message.as_str()),
        (-32603, "Internal error")
    );
    let bailed = call(&d, "viaAnyhow", 2).await.unwrap_err();
    assert_eq!(bailed.code, -32603);
    assert_eq!(bailed.data["message"], "order 2 is locked");
    assert_eq!(
        bailed.data["name"], "Error",
        "an ad-hoc message has no type"
    );
    let rejected = call(&d, "viaAnyhow", 1).await.unwrap_err();
    if cfg!(feature = "anyhow") {
        assert_eq!(
            failed.data,
            json!({"name": "io::Error", "message": "saving the order: disk gone"})
        );
        assert_eq!(rejected, RpcError::new(-32010, "out of stock"));
    } else {
        assert_eq!(
            failed.data,
            json!({"name": "Error", "message": "saving the order"})
        );
        assert_eq!(rejected.code, -32603);
    }
}

#[tokio::test]
async fn boxed_error_results_are_answered() {
    let d = Dispatcher::new(service(), InFlight::default());
    assert_eq!(call(&d, "viaBox", 5).await, Ok(json!({"id": 5})));
    assert_eq!(
        call(&d, "viaBox", 0).await,
        Err(RpcError::internal(
            json!({"name": "io::Error", "message": "disk gone"})
        ))
    );
    assert_eq!(
        call(&d, "viaBox", 1).await,
        Err(RpcError::new(-32010, "out of stock")),
        "a boxed RpcError is the caller's answer unchanged"
    );
}

#[tokio::test]
async fn rpc_error_results_are_unchanged() {
    let d = Dispatcher::new(service(), InFlight::default());
    assert_eq!(call(&d, "viaRpc", 3).await, Ok(json!({"id": 3})));
    assert_eq!(
        call(&d, "viaRpc", 0).await,
        Err(RpcError::new(-32010, "out of stock"))
    );
}
