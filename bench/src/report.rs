//! The table: one row per figure, Rust vs Python, and for Redis rows the raw floor.
//!
//! Both ratios are "higher is better": for throughput `Rust/Py` is Rust calls/s ÷ Python calls/s
//! and `lib/floor` is library calls/s ÷ floor calls/s; for latency they are Python ms ÷ Rust ms
//! and floor ms ÷ library ms. "Within 2× of the floor" is `lib/floor ≥ 0.5`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::Sample;

/// Which side measured a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Side {
    /// This project.
    Rust,
    /// clamator 0.1.9 from PyPI.
    Python,
    /// The raw Redis floor.
    Floor,
}

/// Samples by workload name and side.
pub(crate) type Results = BTreeMap<String, BTreeMap<Side, Sample>>;

/// Which figure of a sample a row shows.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Metric {
    /// Calls per second (higher is better).
    CallsPerS,
    /// Median latency in ms (lower is better).
    P50Ms,
    /// 99th percentile latency in ms (lower is better).
    P99Ms,
}

impl Metric {
    fn of(self, s: &Sample) -> f64 {
        match self {
            Metric::CallsPerS => s.calls_per_s,
            Metric::P50Ms => s.p50_ms,
            Metric::P99Ms => s.p99_ms,
        }
    }

    /// `a` relative to `b`, "higher is better".
    fn advantage(self, a: f64, b: f64) -> Option<f64> {
        let r = match self {
            Metric::CallsPerS => a / b,
            Metric::P50Ms | Metric::P99Ms => b / a,
        };
        r.is_finite().then_some(r)
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::CallsPerS => "calls/s",
            Metric::P50Ms | Metric::P99Ms => "ms",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// What is measured.
    pub label: String,
    /// Workload it comes from.
    pub workload: String,
    /// Figure shown.
    pub metric: Metric,
    /// This project.
    pub rust: Option<f64>,
    /// The Python peer.
    pub python: Option<f64>,
    /// Rust vs Python, higher is better.
    pub rust_vs_python: Option<f64>,
    /// The raw floor (Redis rows).
    pub floor: Option<f64>,
    /// Library vs floor, higher is better (1.0 = as fast as the floor).
    pub lib_vs_floor: Option<f64>,
}

/// The rows of the table, in order: (label, workload, metric, has floor).
pub(crate) const LAYOUT: &[(&str, &str, Metric, bool)] = &[
    ("add sequential p50", "add_seq", Metric::P50Ms, true),
    ("add sequential p99", "add_seq", Metric::P99Ms, true),
    ("add c=1", "add_seq", Metric::CallsPerS, true),
    ("add c=16", "add_c16", Metric::CallsPerS, true),
    ("add c=128", "add_c128", Metric::CallsPerS, true),
    ("add c=1024", "add_c1024", Metric::CallsPerS, true),
    ("add c=128 p50", "add_c128", Metric::P50Ms, true),
    (
        "echoText 1 KiB c=16",
        "echo_1k_c16",
        Metric::CallsPerS,
        true,
    ),
    (
        "echoText 64 KiB c=16",
        "echo_64k_c16",
        Metric::CallsPerS,
        true,
    ),
    (
        "2 servers, add c=128",
        "pool2_add_c128",
        Metric::CallsPerS,
        true,
    ),
    ("memory add c=1", "mem_add_c1", Metric::CallsPerS, false),
    ("memory add c=128", "mem_add_c128", Metric::CallsPerS, false),
    ("memory add c=1 p50", "mem_add_c1", Metric::P50Ms, false),
];

/// Builds the rows from the results.
pub(crate) fn rows(results: &Results) -> Vec<Row> {
    LAYOUT
        .iter()
        .map(|&(label, workload, metric, has_floor)| {
            let get = |side| {
                results
                    .get(workload)
                    .and_then(|m| m.get(&side))
                    .filter(|s| s.ok > 0)
                    .map(|s| metric.of(s))
            };
            let (rust, python) = (get(Side::Rust), get(Side::Python));
            let floor = if has_floor { get(Side::Floor) } else { None };
            let ratio = |a: Option<f64>, b: Option<f64>| metric.advantage(a?, b?);
            Row {
                label: format!("{label} ({})", metric.unit()),
                workload: workload.to_owned(),
                metric,
                rust,
                python,
                rust_vs_python: ratio(rust, python),
                floor,
                lib_vs_floor: ratio(rust, floor),
            }
        })
        .collect()
}

fn num(v: Option<f64>, metric: Metric) -> String {
    match (v, metric) {
        (None, _) => "-".into(),
        (Some(v), Metric::CallsPerS) => format!("{v:.0}"),
        (Some(v), _) => format!("{v:.3}"),
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}×"))
}

/// The table as Markdown.
pub(crate) fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| row | Rust | Python | Rust/Py (×) | raw floor | lib/floor (×) |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.label,
            num(r.rust, r.metric),
            num(r.python, r.metric),
            ratio(r.rust_vs_python),
            num(r.floor, r.metric),
            ratio(r.lib_vs_floor),
        ));
    }
    out
}

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    /// The target as stated in the issue.
    pub target: String,
    /// The figure of this run.
    pub measured: String,
    /// Met?
    pub met: bool,
}

/// The targets, checked against the rows.
pub(crate) fn targets(rows: &[Row]) -> Vec<Target> {
    let row = |w: &str, m: &str| {
        rows.iter()
            .find(|r| r.workload == w && format!("{:?}", r.metric) == m)
    };
    let mut out = Vec::new();
    let mut ratio_target = |text: &str, w: &str, m: &str, min: f64| {
        let v = row(w, m).and_then(|r| r.rust_vs_python);
        out.push(Target {
            target: text.to_owned(),
            measured: v.map_or_else(|| "n/a".into(), |v| format!("{v:.1}×")),
            met: v.is_some_and(|v| v >= min),
        });
    };
    ratio_target(
        "Redis ≥ 20× the peer's throughput at c=128",
        "add_c128",
        "CallsPerS",
        20.0,
    );
    ratio_target(
        "Redis ≥ 2× the peer's throughput at c=1",
        "add_seq",
        "CallsPerS",
        2.0,
    );
    ratio_target(
        "memory ≥ 50× the peer's memory transport (c=1)",
        "mem_add_c1",
        "CallsPerS",
        50.0,
    );
    ratio_target(
        "memory ≥ 50× the peer's memory transport (c=128)",
        "mem_add_c128",
        "CallsPerS",
        50.0,
    );
    let p50 = row("add_seq", "P50Ms").and_then(|r| r.rust);
    out.push(Target {
        target: "sequential p50 ≤ 0.5 ms".into(),
        measured: p50.map_or_else(|| "n/a".into(), |v| format!("{v:.3} ms")),
        met: p50.is_some_and(|v| v <= 0.5),
    });
    let worst = rows
        .iter()
        .filter_map(|r| Some((r.lib_vs_floor?, r.label.as_str())))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    out.push(Target {
        target: "within 2× of the raw floor (every Redis row: lib/floor ≥ 0.5)".into(),
        measured: worst.map_or_else(|| "n/a".into(), |(v, l)| format!("worst {v:.2}× ({l})")),
        met: worst.is_some_and(|(v, _)| v >= 0.5),
    });
    out
}
