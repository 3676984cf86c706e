//! One `redis-server` process (plain, TLS-only, or a sentinel) under a watchdog shell.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestRedisError;

/// How to tell that a started server accepts work.
#[derive(Clone, Copy)]
enum Readiness {
    /// `PING` over plain TCP answers (or `LOADING`).
    Ping,
    /// The port accepts TCP connections (TLS-only servers: a plain PING cannot reach them).
    Listening,
}

/// A private `redis-server` on a loopback port, for tests that kill, restart or configure it.
///
/// It runs under a watchdog shell that stops it when our end of the shell's stdin closes, which
/// happens even if the test process is killed, so no server outlives its test binary; the shell
/// ends as soon as redis-server does, so a refused argument fails at once.
pub struct RedisProcess {
    port: u16,
    /// Arguments before `--port` (a config file, for sentinels).
    leading: Vec<String>,
    args: Vec<String>,
    readiness: Readiness,
    tls: bool,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl RedisProcess {
    /// A server without persistence on a free port.
    pub fn start() -> Result<Self, TestRedisError> {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A server on a free port with these extra arguments (after `--port` and `--bind`).
    pub fn start_with(args: &[&str]) -> Result<Self, TestRedisError> {
        Self::spawn(free_port(), Vec::new(), owned(args), Readiness::Ping, false)
    }

    /// A replica of this server (no persistence; its files under `dir` when given), returned
    /// once its link to this server is up and the initial sync is done.
    pub fn start_replica(&self, dir: Option<&str>) -> Result<Self, TestRedisError> {
        let port = self.port().to_string();
        let mut args = vec!["--save", "", "--appendonly", "no"];
        if let Some(dir) = dir {
            args.extend(["--dir", dir]);
        }
        args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = Self::start_with(&args)?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !super::cluster::replica_synced_or_primary(&replica.url()) {
            if std::time::Instant::now() >= deadline {
                return Err(super::unavailable(format!(
                    "replica of {} did not sync in 30 s",
                    self.url()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(replica)
    }

    /// A server on `port` with these extra arguments (cluster nodes pick their ports first).
    pub fn start_on_port(port: u16, args: &[&str]) -> Result<Self, TestRedisError> {
        Self::spawn(port, Vec::new(), owned(args), Readiness::Ping, false)
    }

    /// A TLS-only server (`--port 0 --tls-port <free>`) with these TLS arguments
    /// (`--tls-cert-file`, `--tls-key-file`, `--tls-ca-cert-file`, `--tls-auth-clients`, …);
    /// [`url`](Self::url) is then `rediss://127.0.0.1:<port>`.
    pub fn start_tls(tls_args: &[&str]) -> Result<Self, TestRedisError> {
        Self::spawn(
            free_port(),
            Vec::new(),
            owned(tls_args),
            Readiness::Listening,
            true,
        )
    }

    /// A TLS-only server on `port` (cluster nodes pick their ports first), as
    /// [`start_tls`](Self::start_tls).
    pub fn start_tls_on_port(port: u16, tls_args: &[&str]) -> Result<Self, TestRedisError> {
        Self::spawn(
            port,
            Vec::new(),
            owned(tls_args),
            Readiness::Listening,
            true,
        )
    }

    /// A sentinel on a free port, from a config file it may rewrite (sentinels persist their
    /// view of the topology there).
    pub fn start_sentinel(config: &Path) -> Result<Self, TestRedisError> {
        let leading = vec![config.display().to_string(), "--sentinel".to_owned()];
        Self::spawn(free_port(), leading, Vec::new(), Readiness::Ping, false)
    }

    fn spawn(
        port: u16,
        leading: Vec<String>,
        args: Vec<String>,
        readiness: Readiness,
        tls: bool,
    ) -> Result<Self, TestRedisError> {
        let joined = args.join(" ");
        let failed = || TestRedisError::ProcessFailed {
            port,
            args: joined.clone(),
        };
        let ports = if tls {
            format!("--port 0 --tls-port {port}")
        } else {
            format!("--port {port}")
        };
        let script = format!(
            "exec 3<&0; redis-server {} {ports} --bind 127.0.0.1 --loglevel warning {} \
             </dev/null & pid=$!; (read sig <&3; kill -s ${{sig:-TERM}} $pid) & wait $pid",
            quote(&leading),
            quote(&args),
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|_| failed())?;
        let stdin = child.stdin.take();
        let mut me = Self {
            port,
            leading,
            args,
            readiness,
            tls,
            child: Some(child),
            stdin,
        };
        if me.wait_up() {
            return Ok(me);
        }
        me.shutdown();
        if which("redis-server") {
            Err(failed())
        } else {
            Err(TestRedisError::Unavailable {
                detail: " (redis-server is not on PATH)".into(),
            })
        }
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS-only server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True while the process runs (a killed or crashed server is not).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn wait_up(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !self.is_running() {
                return false; // the shell ended: redis-server is missing or refused its args
            }
            let up = match self.readiness {
                Readiness::Ping => ping(&self.url()),
                Readiness::Listening => listening(self.port),
            };
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn stop_with(&mut self, signal: &str) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "{signal}");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    pub fn shutdown(&mut self) {
        self.stop_with("TERM");
    }

    /// SIGKILLs the server: no shutdown save, no goodbye to clients, as in a crash.
    pub fn kill(&mut self) {
        self.stop_with("KILL");
    }

    /// Stops and starts again on the same port with the same arguments.
    pub fn restart(&mut self) -> Result<(), TestRedisError> {
        self.shutdown();
        self.start_again()
    }

    /// Starts the stopped server again on its port with its arguments, without waiting for it
    /// to finish loading its data (it answers `LOADING` meanwhile, which reload tests want).
    pub fn start_again(&mut self) -> Result<(), TestRedisError> {
        *self = Self::spawn(
            self.port,
            self.leading.clone(),
            self.args.clone(),
            self.readiness,
            self.tls,
        )?;
        Ok(())
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Single-quotes each argument for `sh`.
fn quote(args: &[String]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

fn which(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// True once the server accepts connections; `LOADING` counts as up (reload tests want it).
pub(super) fn ping(url: &str) -> bool {
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

/// Waits up to 10 s for `url` to answer `PING`.
pub(super) fn wait_ready(url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ping(url) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_process_restarts_on_its_port() {
        let mut server = RedisProcess::start().expect("redis-server on PATH");
        let port = server.port();
        server.kill();
        assert!(!server.is_running());
        assert!(!ping(&server.url()));
        server.start_again().unwrap();
        assert_eq!(server.port(), port);
        assert!(ping(&server.url()));
    }

    #[test]
    fn bad_arguments_are_a_clear_error() {
        let err = RedisProcess::start_with(&["--no-such-option", "x"])
            .err()
            .expect("redis-server refuses unknown options");
        assert!(err.to_string().contains("--no-such-option"), "{err}");
    }
}
