//! The same application code over the memory bus and over a real Redis, through one
//! `AnyClient` type.

use clamator::redis::testing::{TestPrefix, TestRedis};
use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::{AnyClient, Error};
use clamator_starter::{reserve_one, InventoryContract, Stock};

async fn check(bus: &AnyClient) {
    assert_eq!(reserve_one(bus, "apple").await.unwrap(), 1);
    assert_eq!(reserve_one(bus, "apple").await.unwrap(), 0);
    // The handler's anyhow error reaches the caller as -32603 with its context text.
    match reserve_one(bus, "apple").await {
        Err(Error::Rpc(e)) => {
            assert_eq!(e.code, -32603);
            assert!(
                e.data["message"]
                    .as_str()
                    .unwrap()
                    .contains("only 0 of apple left"),
                "{e}"
            );
        }
        other => panic!("expected -32603, got {other:?}"),
    }
    match reserve_one(bus, "pear").await {
        Err(Error::Rpc(e)) => assert!(e.to_string().contains("unknown sku"), "{e}"),
        other => panic!("expected -32603, got {other:?}"),
    }
}

#[tokio::test]
async fn memory_bus() {
    let bus = clamator::memory::MemoryBus::new();
    let server = bus.server();
    server
        .register_service(InventoryContract::service(Stock::new(&[("apple", 2)])))
        .unwrap();
    server.start().await.unwrap();
    let client = bus.client();
    client.start().await.unwrap();
    check(&AnyClient::new(client)).await;
    server.stop(clamator::DEFAULT_STOP_GRACE).await;
}

#[tokio::test]
async fn redis_bus() {
    let redis = TestRedis::start().await.expect("a Redis for tests");
    let keys = TestPrefix::new(redis.url(), "starter");
    let server =
        RedisRpcServer::new(RedisServerOptions::new(keys.prefix()).with_redis_url(redis.url()));
    server
        .register_service(InventoryContract::service(Stock::new(&[("apple", 2)])))
        .unwrap();
    server.start().await.unwrap();
    let client =
        RedisRpcClient::new(RedisClientOptions::new(keys.prefix()).with_redis_url(redis.url()));
    client.start().await.unwrap();
    let bus: AnyClient = client.into();
    check(&bus).await;
    bus.stop().await;
    server.stop(clamator::DEFAULT_STOP_GRACE).await;
}
