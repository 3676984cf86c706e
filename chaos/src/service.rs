//! The test service `chaos.work {"n", "sleepMs", "mode"}` → `{"n": n}`, the execution counter
//! its handler bumps (to find calls that ran more than once), and the `serve` child process that
//! runs it where a server must be SIGKILLed for real.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clamator_over_redis::{RedisRpcServer, RedisServerOptions};
use clamator_protocol::{Contract, Method, RpcError, Service};
use serde::{Deserialize, Serialize};

/// The service name.
pub(crate) const SERVICE: &str = "chaos";
/// The method name.
pub(crate) const METHOD: &str = "work";
/// `chaos.work`.
pub(crate) const WORK: Method<WorkParams, WorkResult> = Method::new(SERVICE, METHOD);
/// Text of every deliberate panic (the panic hook keeps these quiet).
pub(crate) const PANIC_TEXT: &str = "chaos: deliberate panic";

/// What the handler does besides answering.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Mode {
    /// Sleep `sleepMs`, answer `{"n": n}`.
    #[default]
    Ok,
    /// Panic inside the async body.
    PanicAsync,
    /// Panic in the handler closure, before it returns its future.
    PanicSync,
    /// Never finish.
    Hang,
}

/// Params of `chaos.work`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkParams {
    /// The call's unique number.
    pub n: u64,
    /// How long the handler sleeps.
    #[serde(default)]
    pub sleep_ms: u64,
    /// What else it does.
    #[serde(default)]
    pub mode: Mode,
}

/// Result of `chaos.work`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkResult {
    /// The params' `n`.
    pub n: u64,
}

/// How many times the handler started for each `n`. Numbers below the capacity live in a
/// preallocated table (so counting does not grow the heap during a soak); others in a map.
pub(crate) struct Runs {
    table: Vec<AtomicU16>,
    overflow: Mutex<HashMap<u64, u32>>,
}

impl Runs {
    /// A counter for numbers `0..capacity` (others are counted too, in a map).
    pub(crate) fn new(capacity: u64) -> Arc<Self> {
        Arc::new(Self {
            table: (0..capacity).map(|_| AtomicU16::new(0)).collect(),
            overflow: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one run of `n`.
    pub(crate) fn bump(&self, n: u64) {
        match self.table.get(n as usize) {
            Some(c) => {
                c.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                *self
                    .overflow
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(n)
                    .or_default() += 1;
            }
        }
    }

    /// Runs of `n` so far.
    pub(crate) fn get(&self, n: u64) -> u32 {
        match self.table.get(n as usize) {
            Some(c) => u32::from(c.load(Ordering::Relaxed)),
            None => self
                .overflow
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&n)
                .copied()
                .unwrap_or(0),
        }
    }

    /// The numbers below `limit` that ran more than once.
    pub(crate) fn ran_more_than_once(&self, limit: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .table
            .iter()
            .enumerate()
            .filter(|(i, c)| (*i as u64) < limit && c.load(Ordering::Relaxed) > 1)
            .map(|(i, _)| i as u64)
            .collect();
        let overflow = self
            .overflow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.extend(
            overflow
                .iter()
                .filter(|(n, c)| **n < limit && **c > 1)
                .map(|(n, _)| *n),
        );
        out
    }
}

/// The `chaos.work` service; every handler start is counted in `runs` (and reported to
/// `on_run`, which the `serve` child uses to tell its parent).
pub(crate) fn service(runs: Arc<Runs>, on_run: Option<fn(u64)>) -> Service {
    let contract = Contract::builder(SERVICE)
        .method(WORK)
        .build()
        .expect("valid contract");
    Service::builder(contract)
        .handle(WORK, move |p: WorkParams| {
            runs.bump(p.n);
            if let Some(f) = on_run {
                f(p.n);
            }
            if p.mode == Mode::PanicSync {
                panic!("{PANIC_TEXT} (before the future)");
            }
            async move {
                match p.mode {
                    Mode::PanicAsync => panic!("{PANIC_TEXT} (inside the future)"),
                    Mode::Hang => std::future::pending::<()>().await,
                    _ => {
                        if p.sleep_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                        }
                    }
                }
                Ok::<_, RpcError>(WorkResult { n: p.n })
            }
        })
        .build()
        .expect("valid service")
}

/// Starts an in-process server of `chaos.work` on `url` with `prefix`, options adjusted by
/// `tune`.
pub(crate) async fn start_server(
    url: &str,
    prefix: &str,
    runs: Arc<Runs>,
    tune: impl FnOnce(RedisServerOptions) -> RedisServerOptions,
) -> Result<RedisRpcServer, String> {
    let opts = tune(RedisServerOptions::new(prefix).with_redis_url(url));
    let server = RedisRpcServer::new(opts);
    server
        .register_service(service(runs, None))
        .map_err(|e| e.to_string())?;
    server.start().await.map_err(|e| e.to_string())?;
    Ok(server)
}

/// Quiets the deliberate panics; any other panic is reported as usual.
pub(crate) fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !text.starts_with(PANIC_TEXT) {
            default(info);
        }
    }));
}

fn report_run(n: u64) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ran {n}");
    let _ = out.flush();
}

/// The hidden `serve <url> <prefix> <claim-idle-ms>` subcommand: serves `chaos.work`, prints
/// `READY`, then `ran <n>` at each handler start; exits when its stdin closes.
pub(crate) fn serve_child(args: &[String]) -> Result<(), String> {
    let [url, prefix, claim_ms] = args else {
        return Err("usage: clamator-chaos serve <url> <prefix> <claim-idle-ms>".into());
    };
    let claim = Duration::from_millis(claim_ms.parse().map_err(|_| "bad claim-idle-ms")?);
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let opts = RedisServerOptions::new(prefix.as_str())
            .with_redis_url(url.as_str())
            .with_claim_idle(claim);
        let server = RedisRpcServer::new(opts);
        server
            .register_service(service(Runs::new(0), Some(report_run)))
            .map_err(|e| e.to_string())?;
        server.start().await.map_err(|e| e.to_string())?;
        println!("READY");
        let _ = std::io::stdout().flush();
        // Stdin closes when the parent ends (or drops us): then stop.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().lock().read_line(&mut line).unwrap_or(0) > 0 {
                line.clear();
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        server.stop(Duration::from_secs(1)).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_counted_in_the_table_and_beyond() {
        let runs = Runs::new(10);
        runs.bump(3);
        runs.bump(3);
        runs.bump(4);
        runs.bump(1 << 40);
        runs.bump(1 << 40);
        assert_eq!(runs.get(3), 2);
        assert_eq!(runs.get(4), 1);
        assert_eq!(runs.get(1 << 40), 2);
        assert_eq!(runs.ran_more_than_once(10), vec![3]);
        assert_eq!(runs.ran_more_than_once(u64::MAX), vec![3, 1 << 40]);
    }
}
