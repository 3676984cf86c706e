//! What the cross-language runs need from the machine: a Redis and the Python peer.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis for the runs: `REDIS_URL` when set, else a private `redis-server` on a free loopback
/// port, stopped on drop.
pub struct RedisForTests {
    /// Where the drivers connect.
    pub url: String,
    child: Option<Child>,
}

impl RedisForTests {
    /// Finds or starts a Redis; the error says how to provide one.
    pub fn find_or_start() -> Result<Self, String> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok(Self { url, child: None });
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "the interop suite needs Redis: set REDIS_URL, or install redis-server \
                     (apt-get install redis-server) so it can start one ({e})"
                )
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not accept connections within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            url: format!("redis://127.0.0.1:{port}"),
            child: Some(child),
        })
    }
}

impl Drop for RedisForTests {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Python interpreter of a virtual environment holding the pinned clamator packages,
/// created under `target/interop-venv` on first use.
pub fn python_peer(workspace: &Path) -> Result<PathBuf, String> {
    let venv = workspace.join("target").join("interop-venv");
    let python = venv.join("bin").join("python");
    let requirements = workspace
        .join("interop")
        .join("python")
        .join("requirements.txt");
    let marker = venv.join(".clamator-installed");
    let wanted = std::fs::read_to_string(&requirements).map_err(|e| e.to_string())?;
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        "python3 -m venv (the interop suite needs python3 with venv and pip)",
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install of the pinned clamator packages",
    )?;
    std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}
