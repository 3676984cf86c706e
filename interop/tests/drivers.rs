//! The Rust driver binaries themselves: they exit when the process that started them dies
//! (a crashed runner must leave no orphan serving on), and the client sends `"params": null`
//! as `null`, not `{}`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clamator_interop::runner::env::RedisForTests;
use clamator_interop::runner::process::{run_client, Drivers, Lang};
use serde_json::{json, Value};

/// How long an orphaned driver may take to notice and exit (it polls every 250 ms).
const EXIT_LIMIT: Duration = Duration::from_secs(5);

fn prefix(name: &str) -> String {
    format!(
        "clam-drivers-{name}-{}",
        &uuid::Uuid::new_v4().to_string()[..8]
    )
}

/// Deletes `<prefix>:*`: the streams and groups a run left behind.
fn cleanup(url: &str, prefix: &str) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut con)
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query(&mut con).unwrap();
    }
}

/// Writes a driver's config to a temporary file (removed on drop).
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(config: &Value) -> Self {
        let path = std::env::temp_dir().join(format!("{}.json", prefix("config")));
        std::fs::write(&path, config.to_string()).unwrap();
        Self(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A driver started in the background by a wrapper shell, its only parent: `sh` prints the
/// driver's pid, then waits for it. Its stdout and stderr are the wrapper's pipes.
struct Orphanable {
    wrapper: Child,
    pid: u32,
    lines: mpsc::Receiver<String>,
    stderr: std::process::ChildStderr,
}

impl Orphanable {
    fn start(driver: &str, config: &ConfigFile) -> Self {
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" < "$1" & echo "$!"; wait"#)
            .arg(driver)
            .arg(&config.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = wrapper.stdout.take().unwrap();
        let stderr = wrapper.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the wrapper prints the driver's pid")
            .trim()
            .parse()
            .unwrap();
        Self {
            wrapper,
            pid,
            lines,
            stderr,
        }
    }

    /// SIGKILLs the wrapper: the driver is reparented, as after a crashed runner.
    fn kill_parent(&mut self) {
        self.wrapper.kill().unwrap();
        self.wrapper.wait().unwrap();
    }

    /// Waits until the driver has closed its stdout (it exited) and has ended: no process,
    /// or a zombie its new parent has not reaped yet. Returns the stdout lines it still wrote.
    fn wait_exited(&mut self, limit: Duration) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + limit;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => rest.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("driver {} still running after {limit:?}", self.pid))
                }
            }
        }
        while alive(self.pid) {
            if Instant::now() > deadline {
                return Err(format!("driver {} closed stdout but did not end", self.pid));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(rest)
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        let _ = self.stderr.read_to_string(&mut text);
        text
    }
}

impl Drop for Orphanable {
    fn drop(&mut self) {
        // A driver that failed to exit is still ours to clean up.
        if alive(self.pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

/// True while `pid` is a process that has not yet exited (a zombie has exited).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
    }
}

#[test]
fn server_driver_exits_when_its_parent_dies() {
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let key_prefix = prefix("orphan-server");
    let config = ConfigFile::new(&json!({
        "contract": "arith",
        "redisUrl": redis.url,
        "keyPrefix": key_prefix,
        "instanceId": "srv-orphan",
    }));
    let mut driver = Orphanable::start(env!("CARGO_BIN_EXE_interop-server"), &config);
    let ready = driver.lines.recv_timeout(Duration::from_secs(20));
    assert_eq!(ready.as_deref(), Ok("READY"), "{}", driver.stderr());
    assert!(alive(driver.pid));

    driver.kill_parent();
    let rest = driver
        .wait_exited(EXIT_LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(rest.is_empty(), "no HANDLED/pingedAt output: {rest:?}");
    let stderr = driver.stderr();
    assert!(stderr.contains("is gone: exiting"), "stderr: {stderr}");
    assert!(
        !stderr.contains("HANDLED"),
        "it did not take the SIGTERM path: {stderr}"
    );
    cleanup(&redis.url, &key_prefix);
}

#[test]
fn client_driver_exits_when_its_parent_dies_mid_call() {
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let key_prefix = prefix("orphan-client");
    // A group nobody reads: the call stays pending for the whole minute of its timeout.
    let mut con = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let stream = create_group(&mut con, &key_prefix, "arith");
    let config = ConfigFile::new(&json!({
        "redisUrl": redis.url,
        "keyPrefix": key_prefix,
        "defaultTimeoutMs": 60_000,
        "calls": [{"method": "arith.add", "params": {"a": 1, "b": 2}}],
    }));
    let mut driver = Orphanable::start(env!("CARGO_BIN_EXE_interop-client"), &config);
    // Wait until the request is on the command stream: the driver is past its config and
    // waiting for the reply.
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis::cmd("XLEN")
        .arg(&stream)
        .query::<usize>(&mut con)
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "the call never reached {stream}");
        std::thread::sleep(Duration::from_millis(10));
    }

    driver.kill_parent();
    let rest = driver
        .wait_exited(EXIT_LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rest.is_empty(),
        "it exited without printing results: {rest:?}"
    );
    cleanup(&redis.url, &key_prefix);
}

/// Creates the consumer group of `service`, as a server would, so the client finds a server
/// for it; nobody reads from it.
fn create_group(con: &mut redis::Connection, key_prefix: &str, service: &str) -> String {
    let stream = format!("{key_prefix}:cmds:{service}");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(service)
        .arg("$")
        .arg("MKSTREAM")
        .query(con)
        .unwrap();
    stream
}

/// The `params` of every envelope on `stream`, in order: what a server would read.
fn params_on_the_wire(con: &mut redis::Connection, stream: &str) -> Vec<Value> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let text = fields
                .into_iter()
                .find_map(|(k, v)| (k == "envelope").then_some(v))
                .expect("an envelope field");
            let envelope: Value = serde_json::from_str(&text).unwrap();
            let obj = envelope.as_object().unwrap();
            obj.get("params").cloned().expect("params written")
        })
        .collect()
}

#[tokio::test]
async fn client_driver_sends_params_exactly_null_included() {
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let key_prefix = prefix("params-null");
    let mut con = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let stream = create_group(&mut con, &key_prefix, "probe");
    let sent = [
        Some(json!(null)),
        None,
        Some(json!({"k": [1, null]})),
        Some(json!([null])),
    ];
    let calls: Vec<Value> = sent
        .iter()
        .map(|params| {
            // Notifications: written to the stream, nothing to wait for.
            let mut call = json!({"method": "probe.echo", "notification": true});
            if let Some(params) = params {
                call["params"] = params.clone();
            }
            call
        })
        .collect();
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let drivers = Drivers {
        python: "python3".into(), // not used: only the Rust client runs
        python_dir: interop.join("python"),
        rust_server: env!("CARGO_BIN_EXE_interop-server").into(),
        rust_client: env!("CARGO_BIN_EXE_interop-client").into(),
    };
    let config = json!({"redisUrl": redis.url, "keyPrefix": key_prefix, "calls": calls});
    let results = run_client(&drivers, Lang::Rust, config).await.unwrap();
    assert!(
        results.iter().all(|r| r["kind"] == "notification"),
        "{results:?}"
    );
    let on_wire = params_on_the_wire(&mut con, &stream);
    cleanup(&redis.url, &key_prefix);
    // `null` stays `null`; only an absent key becomes `{}`.
    assert_eq!(
        on_wire,
        [
            json!(null),
            json!({}),
            json!({"k": [1, null]}),
            json!([null])
        ]
    );
}
