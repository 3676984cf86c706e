//! TLS against a local TLS-only `redis-server` (`--port 0 --tls-port …`) with certificates
//! generated at test time: round trip with a private CA, a wrong CA refused at `start()` with a
//! clear error, mutual TLS (a client certificate required), the insecure development mode, and
//! a TLS-only cluster with a private CA.

mod support;

use std::time::Duration;

use clamator_over_redis::testing::{RedisCluster, TestPki};
use clamator_over_redis::{
    ConnectionOptions, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
    TlsOptions,
};
use support::arith::{self, AddParams, Probe};

fn connection(url: &str, tls: TlsOptions) -> ConnectionOptions {
    ConnectionOptions::new().with_redis_url(url).with_tls(tls)
}

async fn round_trip(url: &str, tls: TlsOptions) {
    let prefix = format!("tls-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let server = RedisRpcServer::new(
        RedisServerOptions::new(&prefix).with_connection(connection(url, tls.clone())),
    );
    server
        .register_service(arith::service(Probe::default()))
        .unwrap();
    server.start().await.expect("server over TLS");
    let client =
        RedisRpcClient::new(RedisClientOptions::new(&prefix).with_connection(connection(url, tls)));
    client.start().await.expect("client over TLS");
    for i in 0..50 {
        let sum = client
            .call(arith::ADD, &AddParams { a: i, b: 2 })
            .await
            .unwrap();
        assert_eq!(sum.sum, i + 2);
    }
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_over_tls_with_a_private_ca() {
    let pki = TestPki::generate().unwrap();
    let redis = pki.start_redis(false).unwrap();
    assert!(redis.url().starts_with("rediss://"));
    round_trip(
        &redis.url(),
        TlsOptions::new().with_root_ca_pem(pki.ca_pem()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_another_ca_is_refused_at_start() {
    let pki = TestPki::generate().unwrap();
    let redis = pki.start_redis(false).unwrap();
    let other_ca = TestPki::unrelated_ca_pem().unwrap();
    let client = RedisRpcClient::new(RedisClientOptions::new("tls-wrong").with_connection(
        connection(&redis.url(), TlsOptions::new().with_root_ca_pem(other_ca)),
    ));
    let err = client.start().await.unwrap_err().to_string();
    assert!(err.contains("redis connection failed"), "{err}");
    assert!(
        err.to_lowercase().contains("certificate"),
        "names the cause: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_and_accepts_a_client_certificate() {
    let pki = TestPki::generate().unwrap();
    let redis = pki.start_redis(true).unwrap();
    let ca_only = TlsOptions::new().with_root_ca_pem(pki.ca_pem());
    let client = RedisRpcClient::new(
        RedisClientOptions::new("tls-mtls").with_connection(connection(&redis.url(), ca_only)),
    );
    assert!(
        client.start().await.is_err(),
        "no client certificate, no connection"
    );
    let with_cert = TlsOptions::new()
        .with_root_ca_pem(pki.ca_pem())
        .with_client_cert_pem(pki.client_cert_pem(), pki.client_key_pem());
    round_trip(&redis.url(), with_cert).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_accepts_an_unknown_ca_for_development() {
    let pki = TestPki::generate().unwrap();
    let redis = pki.start_redis(false).unwrap();
    round_trip(&redis.url(), TlsOptions::new().with_insecure(true)).await;
}

/// A TLS-only cluster (clients and the cluster bus on TLS) with a private CA: calls are served
/// with command and reply streams on whatever nodes own them, the client learning every node
/// from the slot map and verifying each against the CA; another CA is refused at `start()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_with_a_private_ca_serves_calls() {
    let pki = TestPki::generate().unwrap();
    let cluster = RedisCluster::start_tls(&pki).expect("a local TLS cluster (redis-server)");
    let seeds = cluster.seed_urls();
    assert!(
        seeds.iter().all(|u| u.starts_with("rediss://")),
        "{seeds:?}"
    );
    let on_cluster = |tls: TlsOptions| {
        ConnectionOptions::new()
            .with_cluster_urls(seeds.clone())
            .with_tls(tls)
    };
    let ca = || TlsOptions::new().with_root_ca_pem(pki.ca_pem());
    let prefix = format!("tls-cluster-{}", &uuid::Uuid::new_v4().to_string()[..8]);
    let server = support::serve(
        RedisServerOptions::new(&prefix).with_connection(on_cluster(ca())),
        "server on the TLS cluster",
    )
    .await;
    let client = support::connect_client(
        RedisClientOptions::new(&prefix).with_connection(on_cluster(ca())),
        "client on the TLS cluster",
    )
    .await;
    support::concurrent_adds(&client, 200, 2).await;
    let other_ca = TestPki::unrelated_ca_pem().unwrap();
    let stranger = RedisRpcClient::new(
        RedisClientOptions::new(&prefix)
            .with_connection(on_cluster(TlsOptions::new().with_root_ca_pem(other_ca))),
    );
    let err = stranger
        .start()
        .await
        .expect_err("a certificate from another CA is refused");
    assert!(
        err.to_string().contains("certificate"),
        "names the cause: {err}"
    );
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
}
