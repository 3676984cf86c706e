//! TLS against a local TLS-only `redis-server` (`--port 0 --tls-port …`) with certificates
//! generated at test time: round trip with a private CA, a wrong CA refused at `start()` with a
//! clear error, mutual TLS (a client certificate required), and the insecure development mode.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clamator_over_redis::testing::RedisProcess;
use clamator_over_redis::{
    ConnectionOptions, RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions,
    TlsOptions,
};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use support::arith::{self, AddParams, Probe};

/// A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
    client_cert: String,
    client_key: String,
}

fn ca(name: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn leaf(names: &[&str], ca: &Certificate, ca_key: &KeyPair) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("clamator-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_cert, ca_key) = ca("clamator test CA");
        let (server_cert, server_key) = leaf(&["127.0.0.1", "localhost"], &ca_cert, &ca_key);
        let (client_cert, client_key) = leaf(&["clamator-client"], &ca_cert, &ca_key);
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write("ca.pem", &ca_cert.pem());
        write("server.pem", &server_cert);
        write("server.key", &server_key);
        Self {
            ca_pem: ca_cert.pem(),
            dir,
            client_cert,
            client_key,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn server(&self, auth_clients: &str) -> RedisProcess {
        let (cert, key, ca) = (
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem"),
        );
        RedisProcess::start_tls(&[
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            auth_clients,
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .expect("a TLS redis-server (Debian's redis-server is built with TLS)")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new(&self.dir));
    }
}

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
    let pki = Pki::new();
    let redis = pki.server("no");
    assert!(redis.url().starts_with("rediss://"));
    round_trip(
        &redis.url(),
        TlsOptions::new().with_root_ca_pem(pki.ca_pem.clone()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_another_ca_is_refused_at_start() {
    let pki = Pki::new();
    let redis = pki.server("no");
    let (other_ca, _) = ca("someone else");
    let client = RedisRpcClient::new(RedisClientOptions::new("tls-wrong").with_connection(
        connection(
            &redis.url(),
            TlsOptions::new().with_root_ca_pem(other_ca.pem()),
        ),
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
    let pki = Pki::new();
    let redis = pki.server("yes");
    let ca_only = TlsOptions::new().with_root_ca_pem(pki.ca_pem.clone());
    let client = RedisRpcClient::new(
        RedisClientOptions::new("tls-mtls").with_connection(connection(&redis.url(), ca_only)),
    );
    assert!(
        client.start().await.is_err(),
        "no client certificate, no connection"
    );
    let with_cert = TlsOptions::new()
        .with_root_ca_pem(pki.ca_pem.clone())
        .with_client_cert_pem(pki.client_cert.clone(), pki.client_key.clone());
    round_trip(&redis.url(), with_cert).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_accepts_an_unknown_ca_for_development() {
    let pki = Pki::new();
    let redis = pki.server("no");
    round_trip(&redis.url(), TlsOptions::new().with_insecure(true)).await;
}
