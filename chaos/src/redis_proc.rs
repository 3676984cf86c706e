//! The private `redis-server`: started on a free loopback port in its own temp dir, SIGKILLed and
//! restarted on the same port (and dir, so an AOF survives), never anything but `127.0.0.1`.
//!
//! `redis-server` runs under a watchdog shell that SIGKILLs it when our end of the shell's stdin
//! closes, so it goes away even if this process is killed.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether Redis persists its data across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// No RDB, no AOF: a restart starts empty.
    None,
    /// `--appendonly yes --appendfsync always`.
    Aof,
}

/// One private `redis-server`.
pub(crate) struct RedisProc {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    shell: Option<Child>,
    stdin: Option<ChildStdin>,
    pid: Option<String>,
}

impl RedisProc {
    /// Starts a server with `persistence` plus `extra` config arguments and waits (≤ 10 s) until
    /// it accepts connections.
    pub(crate) fn start(persistence: Persistence, extra: &[&str]) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "clamator-chaos-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.to_string_lossy(),
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
        match persistence {
            Persistence::None => args.extend(["--appendonly".into(), "no".into()]),
            Persistence::Aof => args.extend([
                "--appendonly".into(),
                "yes".into(),
                "--appendfsync".into(),
                "always".into(),
            ]),
        }
        args.extend(extra.iter().map(std::string::ToString::to_string));
        let mut me = Self {
            port,
            dir,
            args,
            shell: None,
            stdin: None,
            pid: None,
        };
        me.spawn()?;
        Ok(me)
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let script =
            "redis-server \"$@\" & pid=$!; echo $pid; read _; kill -9 $pid 2>/dev/null; wait $pid";
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sh/redis-server: {e}"))?;
        let mut line = String::new();
        let stdout = shell.stdout.take().ok_or("no stdout")?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .map_err(|e| format!("no redis-server pid: {e}"))?;
        self.pid = Some(line.trim().to_owned());
        self.stdin = shell.stdin.take();
        self.shell = Some(shell);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(_))) = self.shell.as_mut().map(std::process::Child::try_wait) {
                return Err(format!(
                    "redis-server exited at start (is it installed? see {:?}/redis.log)",
                    self.dir
                ));
            }
            if Instant::now() > deadline {
                return Err("redis-server did not accept connections within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// SIGKILLs `redis-server` (no shutdown, no final fsync) and reaps it.
    pub(crate) fn kill9(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill")
                .args(["-9", &pid])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        if let Some(mut shell) = self.shell.take() {
            let _ = shell.wait();
        }
    }

    /// Sets `--name value` for the next (re)start, replacing an earlier value.
    pub(crate) fn set_arg(&mut self, name: &str, value: &str) {
        match self.args.iter().position(|a| a == name) {
            Some(i) if i + 1 < self.args.len() => self.args[i + 1] = value.to_owned(),
            _ => self.args.extend([name.to_owned(), value.to_owned()]),
        }
    }

    /// Commands in the AOF's incremental files (each starts with a RESP array header).
    pub(crate) fn aof_incr_commands(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir(self.dir.join("appendonlydir")) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .map(|b| {
                let starts = b.windows(3).filter(|w| w == b"\r\n*").count() as u64;
                starts + u64::from(b.first() == Some(&b'*'))
            })
            .sum()
    }

    /// Starts it again on the same port and dir; returns once it accepts connections (it may
    /// still be loading its dataset).
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        self.kill9();
        self.spawn()
    }

    /// Polls `PING` until it answers `PONG` (not `LOADING`), at most `within`; returns how long
    /// it answered `LOADING` (or failed) in that time.
    pub(crate) async fn wait_serving(&self, within: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        loop {
            let ping = async {
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if let Ok(Ok(pong)) = tokio::time::timeout(Duration::from_millis(500), ping).await {
                if pong == "PONG" {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > within {
                return Err(format!("redis not serving within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh admin connection (for fault injection, junk and checks): 5 s to connect, 30 s per
/// response (a 10 MB entry takes a while).
pub(crate) async fn admin(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())
}
