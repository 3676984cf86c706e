//! A service written with the macro whose handlers return `anyhow::Result` and
//! `Result<_, Box<dyn Error + Send + Sync>>`, called through the typed client over memory: the
//! caller gets `-32603` with the error's text (the `anyhow` feature, on in this test build,
//! keeps the whole context chain and names the root cause), or an `RpcError` unchanged.

use clamator::memory::MemoryBus;
use clamator::{Error, JsonSchema, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Order {
    id: u32,
}

#[clamator::service(name = "shop")]
trait Shop {
    async fn place(&self, params: Order) -> anyhow::Result<Order>;
    async fn cancel(
        &self,
        params: Order,
    ) -> Result<Order, Box<dyn std::error::Error + Send + Sync>>;
}

struct Impl;

impl Shop for Impl {
    async fn place(&self, params: Order) -> anyhow::Result<Order> {
        use anyhow::Context;
        match params.id {
            0 => Err(std::io::Error::other("disk gone")).context("saving the order")?,
            1 => Err(RpcError::new(-32010, "out of stock"))?,
            _ => Ok(params),
        }
    }

    async fn cancel(
        &self,
        params: Order,
    ) -> Result<Order, Box<dyn std::error::Error + Send + Sync>> {
        if params.id == 0 {
            return Err("already shipped".into());
        }
        Ok(params)
    }
}

fn rpc(e: Error) -> RpcError {
    e.as_rpc()
        .cloned()
        .unwrap_or_else(|| panic!("not an RPC error: {e}"))
}

#[tokio::test]
async fn anyhow_and_boxed_handlers_answer_over_the_bus() {
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(ShopContract::service(Impl))
        .unwrap();
    server.start().await.unwrap();
    let client = bus.client();
    client.start().await.unwrap();
    let shop = ShopClient::new(&client);

    assert_eq!(shop.place(&Order { id: 4 }).await.unwrap(), Order { id: 4 });
    let failed = rpc(shop.place(&Order { id: 0 }).await.unwrap_err());
    assert_eq!(
        failed,
        RpcError::internal(json!({"name": "io::Error", "message": "saving the order: disk gone"}))
    );
    let rejected = rpc(shop.place(&Order { id: 1 }).await.unwrap_err());
    assert_eq!(rejected, RpcError::new(-32010, "out of stock"));

    assert_eq!(
        shop.cancel(&Order { id: 2 }).await.unwrap(),
        Order { id: 2 }
    );
    let refused = rpc(shop.cancel(&Order { id: 0 }).await.unwrap_err());
    assert_eq!(
        refused,
        RpcError::internal(json!({"name": "Error", "message": "already shipped"}))
    );
    assert!(
        refused.to_string().contains("already shipped"),
        "Display shows data: {refused}"
    );

    client.stop().await;
    server.stop(clamator::DEFAULT_STOP_GRACE).await;
}
