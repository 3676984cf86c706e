//! The cross-language runner: every scenario in every direction (Rust and Python servers and
//! clients over one real Redis), the py/py control included, as clamator's own runner does.

pub mod env;
pub mod process;
pub mod scenario;
pub mod target;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use serde_json::{json, Value};

use process::{run_client, Drivers, Lang, ServerProcess};
use scenario::{check_results, Scenario};
use target::{Inspect, Target};

/// Server languages (one per server) and the client's language.
#[derive(Debug, Clone)]
pub struct Direction {
    /// Language of `srv-A`, `srv-B`, …
    pub servers: Vec<Lang>,
    /// Language of the client.
    pub client: Lang,
}

impl Direction {
    /// `rust-server/py-client`, `rust+py-servers/rust-client`, …
    pub fn label(&self) -> String {
        let mut langs: Vec<&str> = self.servers.iter().map(|l| l.label()).collect();
        langs.dedup();
        let plural = if langs.len() > 1 { "servers" } else { "server" };
        format!(
            "{}-{plural}/{}-client",
            langs.join("+"),
            self.client.label()
        )
    }
}

/// The directions a scenario runs in: all four by default (the py/py run is the harness's own
/// control), fewer when the scenario says so.
pub fn directions(s: &Scenario) -> Vec<Direction> {
    let both = [Lang::Rust, Lang::Py];
    if let Some(langs) = &s.server_langs {
        let servers: Vec<Lang> = langs
            .iter()
            .map(|l| if l == "py" { Lang::Py } else { Lang::Rust })
            .collect();
        return both
            .iter()
            .map(|&client| Direction {
                servers: servers.clone(),
                client,
            })
            .collect();
    }
    let only = |what: &str| {
        s.directions
            .as_ref()
            .is_some_and(|d| d.iter().any(|d| d == what))
    };
    let (rust_server_only, rust_client_only) = (only("rust-server"), only("rust-client"));
    let mut out = Vec::new();
    for server in both {
        if rust_server_only && server != Lang::Rust {
            continue;
        }
        for client in both {
            if rust_client_only && client != Lang::Rust {
                continue;
            }
            out.push(Direction {
                servers: vec![server; s.servers.max(1)],
                client,
            });
        }
    }
    out
}

fn instance_id(i: usize) -> String {
    format!("srv-{}", (b'A' + i as u8) as char)
}

fn key_prefix(s: &Scenario, d: &Direction) -> String {
    let mut name = String::new();
    for c in s.name.chars() {
        if c.is_alphanumeric() || c == '_' {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let tag: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(4)
        .collect();
    let servers: String = d
        .servers
        .iter()
        .map(|l| l.label())
        .collect::<Vec<_>>()
        .join("");
    format!("clam-interop-{name}-{servers}{}-{tag}", d.client.label())
}

/// Runs one scenario in one direction on `target`; `Err` lists what failed.
pub async fn run_one(
    target: &Target,
    drivers: &Drivers,
    s: &Scenario,
    d: &Direction,
) -> Result<(), Vec<String>> {
    let prefix = key_prefix(s, d);
    let mut con = target.connect().await.map_err(|e| vec![e])?;
    let outcome = run_inner(target, &mut con, drivers, s, d, &prefix).await;
    // Leave nothing behind, whatever happened (one DEL per key: on a cluster they live on
    // different slots).
    let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap_or_default();
    for key in keys {
        let _: redis::RedisResult<()> = con.del(key).await;
    }
    outcome
}

async fn run_inner(
    target: &Target,
    con: &mut Inspect,
    drivers: &Drivers,
    s: &Scenario,
    d: &Direction,
    prefix: &str,
) -> Result<(), Vec<String>> {
    let with_target = |mut config: Value| {
        if let Value::Object(map) = &mut config {
            map.extend(target.driver_fields());
        }
        config
    };
    let server_config = |i: usize| {
        with_target(json!({
            "contract": s.contract, "keyPrefix": prefix,
            "consumerClaimIdleMs": s.consumer_claim_idle_ms, "generatedDir": "",
            "instanceId": instance_id(i),
        }))
    };
    let mut client_config = with_target(json!({
        "keyPrefix": prefix,
        "defaultTimeoutMs": s.client.default_timeout_ms.unwrap_or(5_000),
        "calls": s.driver_calls(), "generatedDir": "",
    }));
    if let Some(n) = s.client.concurrent.filter(|&n| n > 1) {
        client_config["concurrent"] = json!(n);
    }
    let stream = format!("{prefix}:cmds:{}", s.contract);
    let mut servers = Vec::new();
    let results = if let Some(crash) = &s.crash {
        // Only the victim runs at first, so the call can only land inside its handler.
        let victim = ServerProcess::start(drivers, d.servers[0], &crash.server, server_config(0))
            .await
            .map_err(|e| vec![e])?;
        let client = {
            let drivers = drivers.clone();
            let config = client_config.clone();
            let lang = d.client;
            tokio::spawn(async move { run_client(&drivers, lang, config).await })
        };
        let consumer = format!("{}:{}", s.contract, crash.server);
        wait_until_pending_on(con, &stream, &s.contract, &consumer)
            .await
            .map_err(|e| vec![e])?;
        victim.kill().await;
        for i in 1..d.servers.len() {
            servers.push(
                ServerProcess::start(drivers, d.servers[i], &instance_id(i), server_config(i))
                    .await
                    .map_err(|e| vec![e])?,
            );
        }
        client.await.map_err(|e| vec![e.to_string()])?
    } else {
        for (i, &lang) in d.servers.iter().enumerate() {
            servers.push(
                ServerProcess::start(drivers, lang, &instance_id(i), server_config(i))
                    .await
                    .map_err(|e| vec![e])?,
            );
        }
        run_client(drivers, d.client, client_config).await
    };
    let mut failures = match results {
        Ok(results) => check_results(s, &results),
        Err(e) => vec![e],
    };
    if let Err(e) = wait_until_drained(con, &stream, &s.contract).await {
        failures.push(e);
    }
    let mut handled = Vec::new();
    for server in servers {
        let id = server.instance_id.clone();
        match server.terminate().await {
            Ok(n) => handled.push((id, n)),
            Err(e) => failures.push(e),
        }
    }
    for (id, want) in &s.expect_handled {
        match handled.iter().find(|(h, _)| h == id) {
            Some((_, n)) if n == want => {}
            other => failures.push(format!(
                "{id} should have handled {want}, reported {other:?}"
            )),
        }
    }
    if s.distribution_roughly_even {
        let floor = s.total_calls() / 10;
        for (id, n) in &handled {
            if *n < floor {
                failures.push(format!(
                    "{id} handled {n} of {} (< {floor})",
                    s.total_calls()
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// Waits until `consumer` holds a pending entry: the call was delivered to it, so it is inside
/// (or entering) the handler.
async fn wait_until_pending_on(
    con: &mut Inspect,
    stream: &str,
    group: &str,
    consumer: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply: redis::RedisResult<redis::streams::StreamPendingReply> =
            con.xpending(stream, group).await;
        if let Ok(redis::streams::StreamPendingReply::Data(data)) = reply {
            if data
                .consumers
                .iter()
                .any(|c| c.name == consumer && c.pending > 0)
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("the call never became pending on {consumer}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn parse_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Waits until every entry of the stream was delivered to the group and acknowledged, so the
/// servers' `HANDLED` counts are final (notifications have no reply to wait for).
async fn wait_until_drained(con: &mut Inspect, stream: &str, group: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info: redis::RedisResult<redis::streams::StreamInfoStreamReply> =
            con.xinfo_stream(stream).await;
        let groups: redis::RedisResult<redis::streams::StreamInfoGroupsReply> =
            con.xinfo_groups(stream).await;
        if let (Ok(info), Ok(groups)) = (info, groups) {
            let drained = groups
                .groups
                .iter()
                .find(|g| g.name == group)
                .is_some_and(|g| {
                    g.pending == 0
                        && parse_id(&g.last_delivered_id) >= parse_id(&info.last_generated_id)
                });
            if drained {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{stream} still had undelivered or pending entries after 15 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
