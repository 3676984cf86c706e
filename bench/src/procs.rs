//! Child processes: the servers of each side (stopped by closing
//! their stdin) and the Python client (one JSON line in, one JSON line out).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A child speaking lines on stdout; stopped by closing its stdin, killed if it lingers.
pub(crate) struct LineChild {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl LineChild {
    /// Spawns `cmd` and waits (at most `ready_within`) for its `READY` line.
    pub(crate) fn spawn(
        name: &str,
        mut cmd: Command,
        ready_within: Duration,
    ) -> Result<Self, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut me = Self {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
        };
        let line = me.next_line(ready_within)?;
        if line.trim() != "READY" {
            return Err(format!("{name}: expected READY, got {line:?}"));
        }
        Ok(me)
    }

    /// The next stdout line, waiting at most `within`.
    pub(crate) fn next_line(&mut self, within: Duration) -> Result<String, String> {
        self.lines
            .recv_timeout(within)
            .map_err(|e| format!("{}: no output line within {within:?} ({e})", self.name))
    }

    /// Writes one line to its stdin.
    pub(crate) fn send_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: write failed: {e}", self.name))
    }

    /// Closes stdin and waits up to 10 s for the exit, then kills.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{}: did not exit within 10 s, killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            self.shutdown();
        }
    }
}
