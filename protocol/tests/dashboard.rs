//! `dashboards/clamator.json` is a well-formed Grafana dashboard whose queries name only
//! metrics the code records (`clamator_protocol::metrics::names`), and every one of them.

use std::collections::BTreeSet;

use clamator_protocol::metrics::names;
use serde_json::Value;

const DASHBOARD: &str = include_str!("../../dashboards/clamator.json");

/// Every `clamator_…` identifier in a PromQL expression, with the exporter's histogram series
/// suffixes mapped back to the histogram's name.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("clamator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| b.ends_with("_seconds")))
            .unwrap_or(name);
        out.push(base.to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_dashboard_queries_exactly_the_metrics_the_code_records() {
    let dash: Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["schemaVersion"].as_u64().is_some());
    let panels = dash["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("panel title");
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate id: {title}"
        );
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].as_u64().is_some(), "{title}: gridPos.{k}");
        }
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let found = metric_names(expr);
            assert!(
                !found.is_empty(),
                "{title}: queries no clamator metric: {expr}"
            );
            queried.extend(found);
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = v["query"].as_str() {
            queried.extend(metric_names(q));
        }
    }
    let recorded: BTreeSet<String> = names::ALL.iter().map(|n| (*n).to_owned()).collect();
    let unknown: Vec<_> = queried.difference(&recorded).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries unrecorded metrics: {unknown:?}"
    );
    let unshown: Vec<_> = recorded.difference(&queried).collect();
    assert!(unshown.is_empty(), "metrics no panel shows: {unshown:?}");
}

#[test]
fn histogram_suffixes_map_back_to_their_histogram() {
    assert_eq!(
        metric_names("rate(clamator_client_call_duration_seconds_bucket[1m]) / clamator_x_total"),
        ["clamator_client_call_duration_seconds", "clamator_x_total"]
    );
}
