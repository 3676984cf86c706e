//! Scenario files (`interop/scenarios/*.json`) and the checks applied to a client's results.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::fixtures::matches;

/// One scenario: servers, a client, its calls and what each call must return.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    /// Human name; also part of the key prefix.
    pub name: String,
    /// `arith` or `notifications`.
    pub contract: String,
    /// How many servers join the consumer group (`srv-A`, `srv-B`, …).
    #[serde(default = "one")]
    pub servers: usize,
    /// Languages of the servers, overriding the direction's server language (mixed pools).
    #[serde(default)]
    pub server_langs: Option<Vec<String>>,
    /// Restricts directions: `rust-server` (only Rust servers), `rust-client` (only Rust
    /// clients, e.g. for a concurrency the Python client's connection pool cannot carry).
    #[serde(default)]
    pub directions: Option<Vec<String>>,
    /// Claim idle passed to the servers.
    #[serde(default = "default_claim_idle")]
    pub consumer_claim_idle_ms: u64,
    /// Kill the first server while it is inside the handler of the first call.
    #[serde(default)]
    pub crash: Option<Crash>,
    /// Client options.
    #[serde(default)]
    pub client: ClientSpec,
    /// The calls, in order.
    pub calls: Vec<CallSpec>,
    /// Exact handler counts reported by servers (`HANDLED:<n>`), by instance id.
    #[serde(default)]
    pub expect_handled: BTreeMap<String, usize>,
    /// Every server handled at least a tenth of the calls.
    #[serde(default)]
    pub distribution_roughly_even: bool,
}

/// Which server dies, and when.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Crash {
    /// Instance id of the victim.
    pub server: String,
    /// SIGKILL once the call is pending on the victim (it is inside the handler).
    pub while_in_handler: bool,
}

/// Client driver options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSpec {
    /// Call timeout.
    #[serde(default)]
    pub default_timeout_ms: Option<u64>,
    /// Fans of the whole call list in flight at once.
    #[serde(default)]
    pub concurrent: Option<usize>,
}

/// One call and its expectation.
#[derive(Debug, Clone, Deserialize)]
pub struct CallSpec {
    /// `<service>.<method>`.
    pub method: String,
    /// Params as sent, `null` included; `None` when the key is absent (the drivers then send
    /// `{}`).
    #[serde(default, deserialize_with = "present")]
    pub params: Option<Value>,
    /// Sent as a notification.
    #[serde(default)]
    pub notification: bool,
    /// Expanded into this many consecutive calls.
    #[serde(default = "one")]
    pub repeat: usize,
    /// `{"result": v}`, `{"error": {"kind","code","messageMatches"}}` or `{"kind": "notification"}`.
    pub expect: Value,
}

/// A present key, `null` included, is `Some` (plain `Option` reads `null` as `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn one() -> usize {
    1
}

fn default_claim_idle() -> u64 {
    60_000
}

impl Scenario {
    /// The calls with `repeat` expanded, as the client driver receives them.
    pub fn expanded_calls(&self) -> Vec<&CallSpec> {
        self.calls
            .iter()
            .flat_map(|c| std::iter::repeat_n(c, c.repeat))
            .collect()
    }

    /// The driver's `calls` array.
    pub fn driver_calls(&self) -> Value {
        self.expanded_calls()
            .iter()
            .map(|c| {
                let mut call = json!({ "method": c.method, "notification": c.notification });
                if let Some(params) = &c.params {
                    call["params"] = params.clone();
                }
                call
            })
            .collect()
    }

    /// Number of results the client must print.
    pub fn total_calls(&self) -> usize {
        self.expanded_calls().len() * self.client.concurrent.unwrap_or(1).max(1)
    }
}

/// Every scenario file, sorted by file name.
pub fn load_all(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let scenario =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok((path, scenario))
        })
        .collect()
}

/// Checks the client's results against the scenario, call by call.
pub fn check_results(scenario: &Scenario, results: &[Value]) -> Vec<String> {
    let calls = scenario.expanded_calls();
    if results.len() != scenario.total_calls() {
        return vec![format!(
            "expected {} results, got {}",
            scenario.total_calls(),
            results.len()
        )];
    }
    results
        .iter()
        .enumerate()
        .filter_map(|(i, got)| {
            let call = calls[i % calls.len()];
            check_one(&call.expect, got)
                .err()
                .map(|e| format!("call {i} ({}): {e}", call.method))
        })
        .collect()
}

fn check_one(expect: &Value, got: &Value) -> Result<(), String> {
    let fail = || Err(format!("expected {expect}, got {got}"));
    if let Some(result) = expect.get("result") {
        let ok = got["kind"] == "result" && matches(result, &got["result"]);
        return if ok { Ok(()) } else { fail() };
    }
    if let Some(error) = expect.get("error") {
        let kind = error
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("rpc-error");
        let code_ok = error.get("code").is_none_or(|c| matches(c, &got["code"]));
        let text_ok = error
            .get("messageMatches")
            .and_then(Value::as_str)
            .is_none_or(|needle| {
                got["message"]
                    .as_str()
                    .is_some_and(|m| m.to_lowercase().contains(&needle.to_lowercase()))
            });
        return if got["kind"] == kind && code_ok && text_ok {
            Ok(())
        } else {
            fail()
        };
    }
    if expect.get("kind").is_some() {
        return if got["kind"] == expect["kind"] {
            Ok(())
        } else {
            fail()
        };
    }
    Err(format!("unknown expectation {expect}"))
}
