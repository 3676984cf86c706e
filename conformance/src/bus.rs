//! The transports under test, behind one small interface: a [`Bus`] makes servers and
//! [`AnyClient`]s, whatever carries them.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clamator::memory::{MemoryBus, MemoryRpcServer};
use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::{AnyClient, Error, Service};
use tokio::process::{Child, Command};

/// Where servers and clients meet.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per test: size does not matter
pub enum Bus {
    /// One in-process bus.
    Memory(MemoryBus),
    /// A private `redis-server` and a key prefix of its own.
    Redis {
        /// The server process (killed on drop).
        process: Child,
        /// Its URL.
        url: String,
        /// Key prefix of this bus.
        prefix: String,
    },
}

/// A server of either transport.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per test: size does not matter
pub enum Server {
    /// Over memory.
    Memory(MemoryRpcServer),
    /// Over Redis.
    Redis(RedisRpcServer),
}

impl Server {
    /// Registers a service (before start).
    pub fn register(&self, service: Service) -> Result<(), Error> {
        match self {
            Server::Memory(s) => s.register_service(service),
            Server::Redis(s) => s.register_service(service),
        }
    }

    /// Starts serving.
    pub async fn start(&self) -> Result<(), Error> {
        match self {
            Server::Memory(s) => s.start().await,
            Server::Redis(s) => s.start().await,
        }
    }

    /// Stops, waiting up to `grace` for running handlers.
    pub async fn stop(&self, grace: Duration) {
        match self {
            Server::Memory(s) => s.stop(grace).await,
            Server::Redis(s) => s.stop(grace).await,
        }
    }
}

impl Bus {
    /// An in-process bus.
    pub fn memory() -> Self {
        Bus::Memory(MemoryBus::new())
    }

    /// A private `redis-server` on a free loopback port (`REDIS_URL` is not used: the suite
    /// needs a Redis of its own). Fails with instructions when `redis-server` is missing.
    pub async fn redis(name: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let process = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "the conformance suite needs redis-server on PATH (apt-get install redis-server)",
            );
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "redis-server did not accept connections"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Bus::Redis {
            process,
            url: format!("redis://127.0.0.1:{port}"),
            prefix: format!("conf-{name}"),
        }
    }

    /// The transport's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Bus::Memory(_) => "memory",
            Bus::Redis { .. } => "redis",
        }
    }

    /// A new, unstarted server.
    pub fn server(&self) -> Server {
        match self {
            Bus::Memory(bus) => Server::Memory(bus.server()),
            Bus::Redis { url, prefix, .. } => Server::Redis(RedisRpcServer::new(
                RedisServerOptions::new(prefix.clone()).with_redis_url(url.clone()),
            )),
        }
    }

    /// A started server of `service`.
    pub async fn serve(&self, service: Service) -> Server {
        let server = self.server();
        server.register(service).expect("register");
        server.start().await.expect("server start");
        server
    }

    /// A new, unstarted client, erased.
    pub fn client(&self) -> AnyClient {
        match self {
            Bus::Memory(bus) => bus.client().into(),
            Bus::Redis { url, prefix, .. } => RedisRpcClient::new(
                RedisClientOptions::new(prefix.clone()).with_redis_url(url.clone()),
            )
            .into(),
        }
    }

    /// A started client.
    pub async fn started_client(&self) -> AnyClient {
        let client = self.client();
        client.start().await.expect("client start");
        client
    }
}
