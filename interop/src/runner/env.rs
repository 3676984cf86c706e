//! What the cross-language runs need from the machine: a Redis and the Python peer.

use std::path::{Path, PathBuf};
use std::process::Command;

use clamator::redis::testing::RedisProcess;

/// A Redis for the runs: `REDIS_URL` when set, else a private `redis-server` on a free loopback
/// port (the published `clamator::redis::testing` helper), stopped on drop.
pub struct RedisForTests {
    /// Where the drivers connect.
    pub url: String,
    _process: Option<RedisProcess>,
}

impl RedisForTests {
    /// Finds or starts a Redis; the error says how to provide one.
    pub fn find_or_start() -> Result<Self, String> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok(Self {
                url,
                _process: None,
            });
        }
        let process = RedisProcess::start().map_err(|e| e.to_string())?;
        Ok(Self {
            url: process.url(),
            _process: Some(process),
        })
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
