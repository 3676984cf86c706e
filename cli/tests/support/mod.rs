//! Test harness: a private `redis-server` per test binary (on a free loopback port, stopped by
//! a watchdog shell when the binary exits), a bus per test (own key prefix) served by a Rust
//! server (in-process `RedisRpcServer` with the interop handlers) or the Python clamator 0.1.9
//! server driver of the interop suite, and a runner for the `clamator` binary.
//!
//! A missing `redis-server` or `python3` fails the tests; nothing is skipped.
#![allow(dead_code)]

mod bus;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[allow(unused_imports)]
pub(crate) use bus::{Bus, Peer, Run};

static REDIS: OnceLock<(String, Watchdog)> = OnceLock::new();

/// The Redis of this test binary, if it was started (for cleanup that must not panic).
pub(crate) fn started_redis_url() -> Option<&'static str> {
    REDIS.get().map(|r| r.0.as_str())
}

/// The Redis of this test binary, started on first use.
pub(crate) fn redis_url() -> &'static str {
    &REDIS
        .get_or_init(|| {
            let found = Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                found,
                "these tests need redis-server on PATH (apt-get install redis-server); \
                 they never skip"
            );
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("no free loopback port")
                .port();
            let dog = Watchdog::spawn(Command::new("sh").arg("-c").arg(format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                     --loglevel warning & pid=$!; read _; kill $pid; wait $pid"
            )));
            let url = format!("redis://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ping(&url) {
                assert!(
                    Instant::now() < deadline,
                    "these tests need redis-server on PATH (apt-get install redis-server): \
                     it did not answer on port {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            (url, dog)
        })
        .0
}

fn ping(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A plain connection to the test Redis, for checking figures the way an operator would.
pub(crate) fn con() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|c| c.get_connection())
        .expect("connect to the test redis")
}

/// A child started under `sh` that stops it when our end of its stdin closes (also when this
/// process dies).
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh is needed to start the test servers");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The runtime the in-process Rust servers run on.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A flat RESP2 `[k, v, …]` reply (XINFO) as a JSON object of strings and integers.
pub(crate) fn map(v: &redis::Value) -> Value {
    let mut out = serde_json::Map::new();
    if let redis::Value::Array(items) = v {
        for kv in items.chunks(2) {
            if let [k, v] = kv {
                out.insert(scalar(k).as_str().unwrap_or_default().to_owned(), scalar(v));
            }
        }
    }
    Value::Object(out)
}

/// A scalar reply as JSON (strings, integers, nil).
pub(crate) fn scalar(v: &redis::Value) -> Value {
    match v {
        redis::Value::Int(i) => json!(i),
        redis::Value::BulkString(b) => json!(String::from_utf8_lossy(b)),
        redis::Value::SimpleString(s) => json!(s),
        _ => Value::Null,
    }
}

/// Polls `cond` until it holds, failing after `limit` (for states Redis offers no event for).
pub(crate) fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Declares one test per server implementation: `<name>::rust_server` and
/// `<name>::python_server`, each running `$body` with `peer` bound.
#[allow(unused_macros)]
macro_rules! per_peer {
    ($(#[$meta:meta])* fn $name:ident($peer:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($peer: $crate::support::Peer) $body
            #[test]
            fn rust_server() {
                body($crate::support::Peer::Rust)
            }
            #[test]
            fn python_server() {
                body($crate::support::Peer::Python)
            }
        }
    };
}
