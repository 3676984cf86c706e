//! Test harness: a real Redis for every test, found in this order: `REDIS_URL`; a `redis-server`
//! binary started on a free loopback port (once per test binary, gone when the binary exits);
//! with the `testcontainers` feature, a `redis:7` container via Docker. Without any of them
//! the tests fail with instructions, never skip.
#![allow(dead_code)]

pub mod arith;
pub mod load;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The Redis URL shared by the tests of this binary.
pub fn redis_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(find_redis).clone()
}

fn find_redis() -> String {
    if let Ok(url) = std::env::var("REDIS_URL") {
        if !url.is_empty() {
            wait_ready(&url);
            return url;
        }
    }
    if let Some(server) = RedisProcess::try_start(None) {
        let url = server.url();
        // Lives until the test binary exits; its watchdog shell then stops redis-server.
        static SHARED: OnceLock<Mutex<RedisProcess>> = OnceLock::new();
        let _ = SHARED.set(Mutex::new(server));
        return url;
    }
    #[cfg(feature = "testcontainers")]
    if let Some(url) = container::start() {
        return url;
    }
    panic!(
        "these tests need a real Redis (7 or newer): set REDIS_URL=redis://host:port, or install \
         `redis-server` on PATH (Debian: apt-get install redis-server), or run with \
         `--features testcontainers` where Docker works"
    );
}

/// A private `redis-server` on a loopback port. It is started under a watchdog shell that
/// stops it when our end of its stdin closes, which happens even if the test process is killed;
/// a line written to that stdin names the signal to stop it with (`TERM`, or `KILL` for a
/// crash).
pub struct RedisProcess {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl RedisProcess {
    /// Starts a server on `port` (a free one if `None`); `None` if `redis-server` is missing.
    pub fn try_start(port: Option<u16>) -> Option<Self> {
        let args = ["--save", "", "--appendonly", "no"]
            .map(String::from)
            .to_vec();
        Self::try_start_with(port, args)
    }

    /// Starts a server with these extra arguments (after `--port` and `--bind`).
    pub fn try_start_with(port: Option<u16>, args: Vec<String>) -> Option<Self> {
        let port = port.unwrap_or_else(free_port);
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --loglevel warning {} & pid=$!; \
             read sig; kill -s ${{sig:-TERM}} $pid; wait $pid",
            quoted.join(" ")
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        let mut me = Self {
            port,
            args,
            child: Some(child),
            stdin,
        };
        if !me.wait_up() {
            me.shutdown();
            return None;
        }
        Some(me)
    }

    /// Starts a private server, failing the test with instructions if impossible.
    pub fn start() -> Self {
        Self::try_start(None).expect("redis-server is needed for this test (restart tests start their own): install it (apt-get install redis-server)")
    }

    /// Starts a private server with extra arguments, failing the test if impossible.
    pub fn start_with(args: &[&str]) -> Self {
        Self::try_start_with(None, args.iter().map(|a| (*a).to_owned()).collect()).expect(
            "redis-server is needed for this test: install it (apt-get install redis-server)",
        )
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_up(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Ok(Some(_)) = child.try_wait() {
                    return false; // the shell ended: redis-server is missing or failed
                }
            }
            if ping(&self.url()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the server with `signal` and waits for it to exit.
    fn stop_with(&mut self, signal: &str) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "{signal}");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Stops the server (without persistence its data is gone).
    pub fn shutdown(&mut self) {
        self.stop_with("TERM");
    }

    /// SIGKILLs the server: no shutdown save, no goodbye to clients.
    pub fn kill(&mut self) {
        self.stop_with("KILL");
    }

    /// Stops and starts again on the same port with the same arguments.
    pub fn restart(&mut self) {
        self.shutdown();
        self.start_again();
    }

    /// Starts the stopped server again on its port with its arguments, without waiting for it
    /// to finish loading its data (it answers `LOADING` meanwhile).
    pub fn start_again(&mut self) {
        let again = Self::try_start_with(Some(self.port), self.args.clone())
            .expect("redis-server restart failed");
        *self = again;
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// True once the server accepts connections (a server still loading its data answers
/// `LOADING`, which counts as up: tests of reloads want exactly that state).
fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
        return false;
    };
    match redis::cmd("PING").query::<String>(&mut conn) {
        Ok(_) => true,
        Err(e) => e.code() == Some("LOADING"),
    }
}

fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ping(url) {
        assert!(
            Instant::now() < deadline,
            "Redis at {url} does not answer PING"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A unique key prefix for one test; its keys are deleted when it is dropped.
pub struct TestKeys {
    pub url: String,
    pub prefix: String,
}

impl TestKeys {
    pub fn new(name: &str) -> Self {
        Self::on(redis_url(), name)
    }

    pub fn on(url: String, name: &str) -> Self {
        let prefix = format!("t-{name}-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        Self { url, prefix }
    }

    /// A synchronous connection for assertions.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl Drop for TestKeys {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// Waits for `cond` (re-checked every 10 ms), failing after `limit`. For conditions observed in
/// Redis or in counters, where no event can be awaited directly.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

#[cfg(feature = "testcontainers")]
mod container {
    //! A `redis:7` container through the Docker CLI, removed when the test binary exits.
    use std::process::Command;

    pub fn start() -> Option<String> {
        let out = Command::new("docker")
            .args(["run", "-d", "--rm", "-p", "127.0.0.1::6379", "redis:7"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let id = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        let port = Command::new("docker")
            .args(["port", &id, "6379/tcp"])
            .output()
            .ok()?;
        let mapping = String::from_utf8(port.stdout).ok()?;
        let port = mapping
            .lines()
            .next()?
            .rsplit(':')
            .next()?
            .trim()
            .to_owned();
        // The container is stopped by a watchdog that outlives us only until our stdin closes.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("read _; docker rm -f {id} >/dev/null 2>&1"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map(std::mem::forget);
        let url = format!("redis://127.0.0.1:{port}");
        super::wait_ready(&url);
        Some(url)
    }
}

use clamator_over_redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};

/// Starts a server of the `arith` service with options adjusted by `tune`.
pub async fn start_server(
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
pub async fn start_client(
    keys: &TestKeys,
    tune: impl FnOnce(RedisClientOptions) -> RedisClientOptions,
) -> RedisRpcClient {
    let opts = tune(RedisClientOptions::new(&keys.prefix).with_redis_url(&keys.url));
    let client = RedisRpcClient::new(opts);
    client.start().await.unwrap();
    client
}
