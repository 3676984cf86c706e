//! What a scenario measured, its one-line summary, the final table, the JSON summary and the
//! thresholds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::load::Counters;

/// One named pass/fail property a scenario checked besides the counters.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// Figures or the first counter-example.
    pub detail: String,
}

/// The figures of one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Calls issued.
    pub sent: u64,
    /// Calls answered as expected.
    pub ok: u64,
    /// Calls that failed, by kind.
    pub errored: BTreeMap<String, u64>,
    /// Calls that never resolved (outer timeout = call timeout + 5 s fired).
    pub lost: u64,
    /// Numbers whose handler ran more than once.
    pub ran_twice: u64,
    /// Whether at-least-once allows runs > 1 here (a Redis or RPC server was SIGKILLed).
    pub ran_twice_allowed: bool,
    /// Calls answered with something other than the expected answer.
    pub wrong: u64,
    /// From the end of the fault to the first correct answer, in ms.
    pub recovery_ms: Option<u64>,
    /// Slowest resolved call, in ms.
    pub max_latency_ms: u64,
    /// Process RSS at the end, in KiB.
    pub rss_kib: u64,
    /// Wall time of the scenario, in s.
    pub elapsed_s: f64,
    /// Extra checks.
    pub checks: Vec<Check>,
    /// Free-form figures (loading time, RSS samples, stats).
    pub notes: Vec<String>,
    /// Set when the scenario could not run (setup failed).
    pub setup_error: Option<String>,
}

impl ScenarioResult {
    /// An empty result named `name`.
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Copies the counters in.
    pub(crate) fn absorb(&mut self, c: &Counters) {
        self.sent += c.sent.load(Ordering::Relaxed);
        self.ok += c.ok.load(Ordering::Relaxed);
        self.lost += c.lost.load(Ordering::Relaxed);
        self.wrong += c.wrong.load(Ordering::Relaxed);
        for (k, v) in c.errors() {
            *self.errored.entry(k).or_default() += v;
        }
        if let Some(r) = c.recovery() {
            self.recovery_ms = Some(r.as_millis() as u64);
        }
        self.max_latency_ms = self.max_latency_ms.max(c.max_latency().as_millis() as u64);
    }

    /// Adds a check.
    pub(crate) fn check(&mut self, name: &str, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            passed,
            detail: detail.into(),
        });
    }

    /// Adds a note.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Checks that no call ended in `call timeout`: where the fault is shorter than the call
    /// timeout, a request that reached Redis must be answered (a timeout is a call the transport
    /// dropped, told to its caller only when its time ran out).
    pub(crate) fn check_no_timeouts(&mut self) {
        let t = self.errored.get("timeout").copied().unwrap_or(0);
        self.check("unanswered(timeout)=0", t == 0, format!("timeout={t}"));
    }

    /// Total errored calls.
    pub(crate) fn errored_total(&self) -> u64 {
        self.errored.values().sum()
    }

    /// Every threshold this scenario violates.
    pub(crate) fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(e) = &self.setup_error {
            v.push(format!("setup failed: {e}"));
        }
        if self.lost > 0 {
            v.push(format!("lost={}", self.lost));
        }
        if self.wrong > 0 {
            v.push(format!("wrong={}", self.wrong));
        }
        if self.ran_twice > 0 && !self.ran_twice_allowed {
            v.push(format!("ran>1={} (not allowed here)", self.ran_twice));
        }
        for c in self.checks.iter().filter(|c| !c.passed) {
            v.push(format!("{}: {}", c.name, c.detail));
        }
        v
    }

    /// The one-line summary printed when the scenario ends.
    pub(crate) fn line(&self) -> String {
        let mut s = format!(
            "{:<28} sent={} ok={} errored={}",
            self.name,
            self.sent,
            self.ok,
            self.errored_total()
        );
        if !self.errored.is_empty() {
            let kinds: Vec<String> = self
                .errored
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let _ = write!(s, " ({})", kinds.join(" "));
        }
        let _ = write!(
            s,
            " lost={} ran>1={}{} wrong={} recovery={} max={}ms rss={}MiB t={:.1}s",
            self.lost,
            self.ran_twice,
            if self.ran_twice_allowed {
                "(allowed)"
            } else {
                ""
            },
            self.wrong,
            fmt_ms(self.recovery_ms),
            self.max_latency_ms,
            self.rss_kib / 1024,
            self.elapsed_s
        );
        for c in &self.checks {
            let _ = write!(
                s,
                " [{} {}: {}]",
                if c.passed { "ok" } else { "FAIL" },
                c.name,
                c.detail
            );
        }
        for n in &self.notes {
            let _ = write!(s, " {n}");
        }
        let violations = self.violations();
        let _ = write!(
            s,
            " => {}",
            if violations.is_empty() {
                "PASS".to_owned()
            } else {
                format!("FAIL ({})", violations.join("; "))
            }
        );
        s
    }
}

fn fmt_ms(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |m| format!("{m}ms"))
}

/// The final table of every scenario.
pub(crate) fn table(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {:<28} | {:>8} | {:>8} | {:>7} | {:>5} | {:>6} | {:>5} | {:>9} | {:>8} | {:>7} | {:<6} | errors by kind",
        "scenario", "sent", "ok", "errored", "lost", "ran>1", "wrong", "recovery", "max ms", "rss MiB", "result"
    );
    let _ = writeln!(
        out,
        "|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|---",
        "-".repeat(30),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(9),
        "-".repeat(7),
        "-".repeat(8),
        "-".repeat(7),
        "-".repeat(11),
        "-".repeat(10),
        "-".repeat(9),
        "-".repeat(8)
    );
    for r in results {
        let kinds: Vec<String> = r.errored.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let _ = writeln!(
            out,
            "| {:<28} | {:>8} | {:>8} | {:>7} | {:>5} | {:>6} | {:>5} | {:>9} | {:>8} | {:>7} | {:<6} | {}",
            r.name,
            r.sent,
            r.ok,
            r.errored_total(),
            r.lost,
            format!("{}{}", r.ran_twice, if r.ran_twice_allowed { "*" } else { "" }),
            r.wrong,
            fmt_ms(r.recovery_ms),
            r.max_latency_ms,
            r.rss_kib / 1024,
            if r.violations().is_empty() { "PASS" } else { "FAIL" },
            kinds.join(" ")
        );
    }
    out
}

/// The machine-readable summary written by `--json`.
#[derive(Debug, Serialize)]
pub(crate) struct Summary<'a> {
    /// `quick` or `full`.
    pub mode: &'a str,
    /// Whether every threshold held.
    pub passed: bool,
    /// Every scenario.
    pub scenarios: Vec<ScenarioJson<'a>>,
}

/// One scenario in the JSON summary.
#[derive(Debug, Serialize)]
pub(crate) struct ScenarioJson<'a> {
    /// The figures.
    #[serde(flatten)]
    pub result: &'a ScenarioResult,
    /// Threshold violations (empty: passed).
    pub violations: Vec<String>,
}

/// Process RSS in KiB, from `/proc/self/status` (`VmRSS`); 0 where unavailable.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `d` in whole milliseconds.
pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let mut r = ScenarioResult::new("x");
        assert!(r.violations().is_empty());
        r.ran_twice = 2;
        assert_eq!(r.violations().len(), 1);
        r.ran_twice_allowed = true;
        assert!(r.violations().is_empty());
        r.errored.insert("timeout".into(), 3);
        assert!(r.violations().is_empty(), "errored alone is no violation");
        r.check("c", false, "d");
        r.lost = 1;
        assert_eq!(r.violations().len(), 2);
        assert!(r.line().contains("FAIL"));
        assert!(table(&[r]).contains("| x "));
    }

    #[test]
    fn rss_is_read() {
        assert!(rss_kib() > 0);
    }
}
