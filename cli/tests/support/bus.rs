//! A bus per test: its own key prefix, served by a Rust server (in-process `RedisRpcServer`
//! with the interop handlers) or the Python clamator 0.1.9 server driver of the interop suite,
//! and a runner for the `clamator` binary against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use clamator_interop::handlers::{arith, notifications, Counters};
use clamator_over_redis::{RedisRpcServer, RedisServerOptions};
use serde_json::{json, Value};

use super::{con, eventually, map, redis_url, runtime};

/// Which implementation serves the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// This project's `RedisRpcServer` with the interop handlers.
    Rust,
    /// clamator 0.1.9 from PyPI (`interop/python/server_driver.py`).
    Python,
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        clamator_interop::runner::env::python_peer(workspace()).unwrap_or_else(|e| panic!("{e}"))
    })
}

enum Server {
    Rust(Box<RedisRpcServer>, Arc<Counters>),
    Python {
        shell: Child,
        stdin: Option<ChildStdin>,
        stderr: Option<JoinHandle<String>>,
    },
}

/// One key prefix with servers on it; its keys are deleted when dropped.
pub(crate) struct Bus {
    /// The key prefix of this test.
    pub prefix: String,
    servers: Vec<Server>,
}

impl Bus {
    /// A prefix with nothing serving it.
    pub(crate) fn bare(name: &str) -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: format!("cli-{name}-{}", &tag[..8]),
            servers: Vec::new(),
        }
    }

    /// A prefix served by `peer` with the `arith` contract.
    pub(crate) fn new(name: &str, peer: Peer) -> Self {
        Self::with_contracts(name, peer, &["arith"])
    }

    /// A prefix served by `peer` with these contracts (`arith`, `notifications`).
    pub(crate) fn with_contracts(name: &str, peer: Peer, contracts: &[&str]) -> Self {
        let mut bus = Self::bare(name);
        match peer {
            Peer::Rust => bus.servers.push(bus.rust_server(contracts)),
            Peer::Python => {
                for c in contracts {
                    let s = bus.python_server(c);
                    bus.servers.push(s);
                }
            }
        }
        bus
    }

    /// A prefix served by a Rust server (`arith`) with options adjusted by `tune`.
    pub(crate) fn rust_with(
        name: &str,
        tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
    ) -> Self {
        let mut bus = Self::bare(name);
        let server = bus.rust_server_with(&["arith"], tune);
        bus.servers.push(server);
        bus
    }

    fn rust_server(&self, contracts: &[&str]) -> Server {
        self.rust_server_with(contracts, |o| o)
    }

    fn rust_server_with(
        &self,
        contracts: &[&str],
        tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
    ) -> Server {
        let counters = Arc::new(Counters::default());
        let opts = tune(
            RedisServerOptions::new(self.prefix.clone())
                .with_redis_url(redis_url())
                .with_instance_id("srv-rust"),
        );
        let server = RedisRpcServer::new(opts);
        for c in contracts {
            let service = match *c {
                "arith" => arith(counters.clone()),
                _ => notifications(counters.clone()),
            };
            server.register_service(service).expect("register");
        }
        runtime()
            .block_on(server.start())
            .expect("rust server start");
        Server::Rust(Box::new(server), counters)
    }

    fn python_server(&self, contract: &str) -> Server {
        let config = json!({
            "contract": contract, "redisUrl": redis_url(), "keyPrefix": self.prefix,
            "consumerClaimIdleMs": 60_000, "instanceId": format!("srv-py-{contract}"),
            "generatedDir": "",
        });
        let file = std::env::temp_dir().join(format!("{}-{contract}.json", self.prefix));
        std::fs::write(&file, config.to_string()).expect("write driver config");
        // The shell stops the driver (SIGTERM, so it prints HANDLED) when our stdin closes.
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" server_driver.py < \"$1\" & pid=$!; read _; kill -TERM $pid; wait $pid")
            .arg(python())
            .arg(&file)
            .current_dir(workspace().join("interop").join("python"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the python server driver");
        let stdin = shell.stdin.take();
        let mut err = shell.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut lines = BufReader::new(shell.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("READY") => break,
                Some(Ok(_)) => {}
                _ => panic!(
                    "the python server never printed READY: {}",
                    stderr.join().unwrap_or_default()
                ),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Server::Python {
            shell,
            stdin,
            stderr: Some(stderr),
        }
    }

    /// Stops the servers; how many handler invocations they counted in all.
    pub(crate) fn stop(&mut self) -> usize {
        self.stop_servers(true)
    }

    fn stop_servers(&mut self, strict: bool) -> usize {
        let mut handled = 0;
        for server in self.servers.drain(..) {
            match server {
                Server::Rust(s, counters) => {
                    runtime().block_on(s.stop(Duration::from_secs(1)));
                    handled += counters.handled.load(Ordering::SeqCst);
                }
                Server::Python {
                    mut shell,
                    mut stdin,
                    mut stderr,
                } => {
                    if let Some(mut i) = stdin.take() {
                        let _ = i.write_all(b"\n");
                    }
                    let _ = shell.wait();
                    let text = stderr
                        .take()
                        .and_then(|h| h.join().ok())
                        .unwrap_or_default();
                    handled += text
                        .lines()
                        .find_map(|l| {
                            l.trim()
                                .strip_prefix("HANDLED:")?
                                .trim()
                                .parse::<usize>()
                                .ok()
                        })
                        .unwrap_or_else(|| {
                            assert!(!strict, "no HANDLED line from python: {text}");
                            0
                        });
                }
            }
        }
        handled
    }

    /// `<prefix>:<rest>`.
    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// The `clamator` binary with this bus's Redis and prefix in its environment.
    pub(crate) fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clamator"));
        cmd.env("REDIS_URL", redis_url())
            .env("CLAMATOR_PREFIX", &self.prefix)
            .env_remove("COLUMNS");
        cmd
    }

    /// Runs `clamator <args>` to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cli().args(args).output().expect("run clamator"))
    }

    /// Runs `clamator <args>` with `input` on stdin.
    pub(crate) fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .cli()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run clamator");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().expect("clamator output"))
    }

    /// Waits until the group of `service` has delivered and acknowledged every entry.
    pub(crate) fn wait_drained(&self, service: &str) {
        let stream = self.key(&format!("cmds:{service}"));
        eventually(Duration::from_secs(10), "the group drains", || {
            let groups: Vec<redis::Value> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&stream)
                .query(&mut con())
                .unwrap_or_default();
            groups.iter().any(|g| {
                let m = map(g);
                m["name"] == json!(service) && m["pending"] == json!(0) && m["lag"] == json!(0)
            })
        });
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // Never panics: this also runs while a failed test unwinds.
        self.stop_servers(false);
        let Some(mut c) = super::started_redis_url()
            .and_then(|url| redis::Client::open(url).ok())
            .and_then(|client| client.get_connection().ok())
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
        }
    }
}

/// What a `clamator` run printed and returned.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// stdout parsed as one JSON document.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing the output when it differs.
    pub(crate) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:?}");
        self
    }
}
