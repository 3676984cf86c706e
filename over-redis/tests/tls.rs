//! TLS against a local TLS-only `redis-server` (`--port 0 --tls-port …`) with certificates
//! generated at test time: round trip with a private CA, a wrong CA refused at `start()` with a
//! clear error, mutual TLS (a client certificate required), and the insecure development mode.

mod support;

use std::time::Duration;

use clamator_over_redis::testing::TestPki;
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
