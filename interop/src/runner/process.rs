//! Driver processes: config on stdin, `READY` on stdout, `HANDLED:<n>` on stderr after SIGTERM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Which implementation a driver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// This project's `interop-server` / `interop-client`.
    Rust,
    /// The pinned Python peer (`interop/python/*_driver.py`).
    Py,
}

impl Lang {
    /// `rust` or `py`, as in prefixes and reports.
    pub fn label(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Py => "py",
        }
    }
}

/// Where the four drivers are.
#[derive(Debug, Clone)]
pub struct Drivers {
    /// The venv's Python interpreter.
    pub python: PathBuf,
    /// `interop/python`.
    pub python_dir: PathBuf,
    /// The `interop-server` binary.
    pub rust_server: PathBuf,
    /// The `interop-client` binary.
    pub rust_client: PathBuf,
}

impl Drivers {
    fn command(&self, lang: Lang, server: bool) -> Command {
        match lang {
            Lang::Rust => Command::new(if server {
                &self.rust_server
            } else {
                &self.rust_client
            }),
            Lang::Py => {
                let mut cmd = Command::new(&self.python);
                cmd.arg(if server {
                    "server_driver.py"
                } else {
                    "client_driver.py"
                })
                .current_dir(&self.python_dir);
                cmd
            }
        }
    }
}

/// A running server driver.
pub struct ServerProcess {
    /// Its instance id (`srv-A`, …).
    pub instance_id: String,
    child: Child,
    stderr: JoinHandle<String>,
}

async fn spawn_with_stdin(mut cmd: Command, config: &str) -> Result<Child, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start driver: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    stdin
        .write_all(config.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    drop(stdin);
    Ok(child)
}

impl ServerProcess {
    /// Starts a server driver and waits (up to 20 s) for its `READY` line.
    pub async fn start(
        drivers: &Drivers,
        lang: Lang,
        instance_id: &str,
        config: Value,
    ) -> Result<Self, String> {
        let mut child = spawn_with_stdin(drivers.command(lang, true), &config.to_string()).await?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("READY") {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            let _ = child.start_kill();
            let err = stderr.await.unwrap_or_default();
            return Err(format!(
                "{} server {instance_id} never printed READY: {err}",
                lang.label()
            ));
        }
        // Keep draining stdout so the driver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            instance_id: instance_id.to_owned(),
            child,
            stderr,
        })
    }

    /// SIGKILL: the crash of the crash-recovery scenario.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, wait up to 5 s (then SIGKILL), and return its `HANDLED:<n>` count.
    pub async fn terminate(mut self) -> Result<usize, String> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
        let stderr = self.stderr.await.unwrap_or_default();
        stderr
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("HANDLED:")
                    .and_then(|n| n.trim().parse().ok())
            })
            .ok_or_else(|| {
                format!(
                    "server {} printed no HANDLED line; stderr: {stderr}",
                    self.instance_id
                )
            })
    }
}

/// Runs a client driver to completion (up to 60 s) and returns its `results` array.
pub async fn run_client(
    drivers: &Drivers,
    lang: Lang,
    config: Value,
) -> Result<Vec<Value>, String> {
    run_client_text(drivers, lang, &config.to_string()).await
}

/// [`run_client`] with the config as raw JSON text, for configs no `Value` can hold (a Python
/// client sending a lone surrogate escape).
pub async fn run_client_text(
    drivers: &Drivers,
    lang: Lang,
    config: &str,
) -> Result<Vec<Value>, String> {
    let child = spawn_with_stdin(drivers.command(lang, false), config).await?;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| format!("{} client did not finish within 60 s", lang.label()))?
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "{} client printed no JSON document ({e}); stderr: {}",
            lang.label(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    doc["results"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("no results array in {doc}"))
}
