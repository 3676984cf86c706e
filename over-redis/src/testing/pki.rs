//! Certificates made at test time, so a TLS test suite needs no fixture files that expire or
//! leak: a CA, a server certificate for `127.0.0.1` / `localhost` signed by it, and a client
//! certificate for mutual TLS. [`TestPki::start_redis`] runs a TLS-only `redis-server` on them.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

use super::{RedisProcess, TestRedisError};

/// A private CA with one server and one client certificate, written to a temporary directory
/// (removed on drop) because `redis-server` and other languages' clients read files.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

fn failed(what: &str, e: impl std::fmt::Display) -> TestRedisError {
    TestRedisError::Certificates {
        detail: format!("{what}: {e}"),
    }
}

fn new_ca(name: &str) -> Result<(Certificate, KeyPair), TestRedisError> {
    let key = KeyPair::generate().map_err(|e| failed("CA key", e))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| failed("CA params", e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).map_err(|e| failed("CA", e))?;
    Ok((cert, key))
}

fn new_leaf(
    names: &[&str],
    ca: &Certificate,
    ca_key: &KeyPair,
) -> Result<(String, String), TestRedisError> {
    let key = KeyPair::generate().map_err(|e| failed("key", e))?;
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let params = CertificateParams::new(names).map_err(|e| failed("params", e))?;
    let cert = params
        .signed_by(&key, ca, ca_key)
        .map_err(|e| failed("certificate", e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl TestPki {
    /// Generates the CA and both certificates and writes `ca.pem`, `server.pem`, `server.key`,
    /// `client.pem` and `client.key`.
    pub fn generate() -> Result<Self, TestRedisError> {
        let dir = std::env::temp_dir().join(format!("clamator-pki-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| failed("temporary directory", e))?;
        let (ca_cert, ca_key) = new_ca("clamator test CA")?;
        let (server_cert, server_key) = new_leaf(&["127.0.0.1", "localhost"], &ca_cert, &ca_key)?;
        let (client_cert_pem, client_key_pem) = new_leaf(&["clamator-client"], &ca_cert, &ca_key)?;
        let pki = Self {
            ca_pem: ca_cert.pem(),
            dir,
            client_cert_pem,
            client_key_pem,
        };
        for (name, text) in [
            ("ca.pem", pki.ca_pem.as_str()),
            ("server.pem", server_cert.as_str()),
            ("server.key", server_key.as_str()),
            ("client.pem", pki.client_cert_pem.as_str()),
            ("client.key", pki.client_key_pem.as_str()),
        ] {
            std::fs::write(pki.dir.join(name), text).map_err(|e| failed(name, e))?;
        }
        Ok(pki)
    }

    /// A different CA's certificate: what a client trusting the wrong CA is given.
    pub fn unrelated_ca_pem() -> Result<String, TestRedisError> {
        Ok(new_ca("some other CA")?.0.pem())
    }

    /// The CA certificate (PEM), for `TlsOptions::with_root_ca_pem`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate's file, for clients that take a path (redis-py's `ssl_ca_certs`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The client certificate (PEM), for mutual TLS.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The client certificate's key (PEM).
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// A TLS-only `redis-server` on these certificates; with `require_client_cert` it refuses
    /// clients without a certificate signed by the CA (`--tls-auth-clients yes`).
    pub fn start_redis(&self, require_client_cert: bool) -> Result<RedisProcess, TestRedisError> {
        let mut args = self.server_tls_args(require_client_cert);
        args.extend(["--save", "", "--appendonly", "no"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        RedisProcess::start_tls(&args)
    }

    /// The `redis-server` arguments that serve TLS on these certificates (the server
    /// certificate, its key, the CA; `--tls-auth-clients yes` with `require_client_cert`).
    pub fn server_tls_args(&self, require_client_cert: bool) -> Vec<String> {
        let path = |name: &str| self.dir.join(name).display().to_string();
        vec![
            "--tls-cert-file".into(),
            path("server.pem"),
            "--tls-key-file".into(),
            path("server.key"),
            "--tls-ca-cert-file".into(),
            path("ca.pem"),
            "--tls-auth-clients".into(),
            (if require_client_cert { "yes" } else { "no" }).into(),
        ]
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new(&self.dir));
    }
}
