//! Test harness on the crate's published test helpers (`clamator_over_redis::testing`, the
//! same that users' suites get): a real Redis for every test, `REDIS_URL` or a private
//! `redis-server` (or a container with `testcontainers`); without one the tests fail with
//! instructions, never skip.
#![allow(dead_code)]

pub(crate) mod acl;
pub(crate) mod arith;
pub(crate) mod cluster;
pub(crate) mod load;
pub(crate) mod sentinel;

use std::time::{Duration, Instant};

use clamator_over_redis::testing;

/// The Redis URL shared by the tests of this binary.
pub(crate) fn redis_url() -> String {
    testing::shared_url().unwrap_or_else(|e| panic!("{e}"))
}

/// A private `redis-server` this test may kill and restart (panics with instructions when
/// impossible: a test that needs one must fail, not skip).
pub(crate) struct RedisProcess(testing::RedisProcess);

impl RedisProcess {
    /// A server without persistence.
    pub(crate) fn start() -> Self {
        Self(testing::RedisProcess::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A server with extra arguments (`--appendonly yes`, …).
    pub(crate) fn start_with(args: &[&str]) -> Self {
        Self(testing::RedisProcess::start_with(args).unwrap_or_else(|e| panic!("{e}")))
    }

    pub(crate) fn url(&self) -> String {
        self.0.url()
    }

    pub(crate) fn shutdown(&mut self) {
        self.0.shutdown();
    }

    /// SIGKILLs the server: no shutdown save, no goodbye to clients.
    pub(crate) fn kill(&mut self) {
        self.0.kill();
    }

    pub(crate) fn restart(&mut self) {
        self.0.restart().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the stopped server again on its port, without waiting for it to load its data.
    pub(crate) fn start_again(&mut self) {
        self.0.start_again().unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A unique key prefix for one test; its keys are deleted when it is dropped.
pub(crate) struct TestKeys {
    pub url: String,
    pub prefix: String,
}

impl TestKeys {
    pub(crate) fn new(name: &str) -> Self {
        Self::on(redis_url(), name)
    }

    pub(crate) fn on(url: String, name: &str) -> Self {
        let prefix = format!("t-{name}-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        Self { url, prefix }
    }

    /// A synchronous connection for assertions.
    pub(crate) fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl Drop for TestKeys {
    fn drop(&mut self) {
        testing::delete_keys(&self.url, &self.prefix);
    }
}

/// Waits for `cond` (re-checked every 10 ms), failing after `limit`. For conditions observed in
/// Redis or in counters, where no event can be awaited directly.
pub(crate) async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

use clamator_over_redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};

/// Starts a server of the `arith` service with exactly these options (any deployment: TLS,
/// cluster, Sentinel), failing the test with `what` if it cannot start.
pub(crate) async fn serve(opts: RedisServerOptions, what: &str) -> RedisRpcServer {
    let server = RedisRpcServer::new(opts);
    server
        .register_service(arith::service(arith::Probe::default()))
        .unwrap();
    server
        .start()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    server
}

/// Starts a client with exactly these options, failing the test with `what` if it cannot.
pub(crate) async fn connect_client(opts: RedisClientOptions, what: &str) -> RedisRpcClient {
    let client = RedisRpcClient::new(opts);
    client
        .start()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    client
}

/// `n` concurrent `arith.add(a, b)` calls for `a` in `0..n`; each must answer `a + b`.
pub(crate) async fn concurrent_adds(client: &RedisRpcClient, n: i64, b: i64) {
    let calls = (0..n).map(|a| async move {
        let sum = client.call(arith::ADD, &arith::AddParams { a, b }).await;
        (a, sum)
    });
    for (a, sum) in futures_util::future::join_all(calls).await {
        assert_eq!(sum.unwrap().sum, a + b);
    }
}

/// Starts a server of the `arith` service with options adjusted by `tune`.
pub(crate) async fn start_server(
    keys: &TestKeys,
    probe: arith::Probe,
    tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
) -> RedisRpcServer {
    let opts = tune(RedisServerOptions::new(&keys.prefix).with_redis_url(&keys.url));
    let server = RedisRpcServer::new(opts);
    server.register_service(arith::service(probe)).unwrap();
    server.start().await.unwrap();
    server
}

/// Starts a client with options adjusted by `tune`.
pub(crate) async fn start_client(
    keys: &TestKeys,
    tune: impl FnOnce(RedisClientOptions) -> RedisClientOptions,
) -> RedisRpcClient {
    let opts = tune(RedisClientOptions::new(&keys.prefix).with_redis_url(&keys.url));
    let client = RedisRpcClient::new(opts);
    client.start().await.unwrap();
    client
}

/// `XGROUP CREATE <stream> <group> $ MKSTREAM`: a group that exists before any server does
/// (requests then queue), on one server or a cluster.
pub(crate) fn create_group(conn: &mut impl redis::ConnectionLike, stream: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("$")
        .arg("MKSTREAM")
        .query(conn)
        .unwrap();
}

/// Reads every new entry as a consumer that then "dies" (never acknowledges).
pub(crate) fn ghost_read(conn: &mut redis::Connection, stream: &str) -> Vec<String> {
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:ghost")
        .arg("COUNT")
        .arg(1000)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query(conn)
        .unwrap();
    reply
        .keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|i| i.id)
        .collect()
}

/// `CLIENT KILL TYPE normal SKIPME yes`: drops every client connection but the asking one (a
/// network cut for both sides at once); returns how many were killed.
pub(crate) fn kill_normal_clients(conn: &mut redis::Connection) -> i64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query(conn)
        .unwrap()
}

/// Calls of `WAIT` the node at `url` has served.
pub(crate) fn wait_calls(url: &str) -> u64 {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_wait:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}
