//! `clamator manifest diff <a> <b>`: added, removed and changed methods between two schema
//! manifests.
//!
//! Both clamator-rs's `clamator::Manifest` JSON and the TypeScript codegen's `--manifest`
//! output have the shape `{"generatedBy", "contracts": {service: {method: {"paramsHash",
//! "resultHash" | null}}}}`; read leniently: the `contracts` wrapper may be absent, and
//! snake-case keys (`params_hash`) are accepted too.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{CliError, CliResult};
use crate::output::{Out, Table};

/// The hashes of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    /// Hash of the params schema.
    pub params: Option<String>,
    /// Hash of the result schema (`None` for notifications).
    pub result: Option<String>,
}

/// `<service>.<method>` → hashes.
pub type Methods = BTreeMap<String, Hashes>;

fn hash(entry: &Value, camel: &str, snake: &str) -> Option<String> {
    entry
        .get(camel)
        .or_else(|| entry.get(snake))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Reads a manifest document into its methods.
pub fn parse(doc: &Value) -> Result<Methods, String> {
    let contracts = doc.get("contracts").unwrap_or(doc);
    let services = contracts
        .as_object()
        .ok_or("no \"contracts\" object: not a clamator schema manifest")?;
    let mut methods = Methods::new();
    for (service, ms) in services {
        if service == "generatedBy" {
            continue;
        }
        let ms = ms
            .as_object()
            .ok_or_else(|| format!("contracts.{service} is not an object of methods"))?;
        for (method, entry) in ms {
            if !entry.is_object() {
                return Err(format!("contracts.{service}.{method} is not an object"));
            }
            methods.insert(
                format!("{service}.{method}"),
                Hashes {
                    params: hash(entry, "paramsHash", "params_hash"),
                    result: hash(entry, "resultHash", "result_hash"),
                },
            );
        }
    }
    Ok(methods)
}

fn load(path: &Path) -> CliResult<Methods> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{} is not JSON: {e}", path.display())))?;
    parse(&doc).map_err(|e| {
        CliError::usage(format!("{}: {e}", path.display()))
            .hint("pass a clamator::Manifest file or the codegen's --manifest output")
    })
}

/// The differences between two manifests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// In `b` only.
    pub added: Vec<String>,
    /// In `a` only.
    pub removed: Vec<String>,
    /// In both, with different hashes: method, which hash (`params`/`result`), a's, b's.
    pub changed: Vec<(String, &'static str, Option<String>, Option<String>)>,
}

impl Diff {
    /// Whether the manifests agree.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares `a` with `b`.
pub fn diff(a: &Methods, b: &Methods) -> Diff {
    let mut d = Diff::default();
    for (m, ha) in a {
        match b.get(m) {
            None => d.removed.push(m.clone()),
            Some(hb) => {
                if ha.params != hb.params {
                    d.changed
                        .push((m.clone(), "params", ha.params.clone(), hb.params.clone()));
                }
                if ha.result != hb.result {
                    d.changed
                        .push((m.clone(), "result", ha.result.clone(), hb.result.clone()));
                }
            }
        }
    }
    d.added = b.keys().filter(|m| !a.contains_key(*m)).cloned().collect();
    d
}

fn short(h: Option<&String>) -> String {
    h.map_or_else(|| "null".to_owned(), |h| h.chars().take(12).collect())
}

/// `clamator manifest diff <a> <b>`.
pub fn run(out: &Out, a_path: &Path, b_path: &Path) -> CliResult {
    let a = load(a_path)?;
    let b = load(b_path)?;
    let d = diff(&a, &b);
    if out.json {
        let changed: Vec<Value> = d
            .changed
            .iter()
            .map(|(m, which, ha, hb)| json!({"method": m, "hash": which, "a": ha, "b": hb}))
            .collect();
        out.json_doc(
            &json!({"equal": d.is_empty(), "methods": {"a": a.len(), "b": b.len()},
                             "added": d.added, "removed": d.removed, "changed": changed}),
        );
    } else if d.is_empty() {
        out.line(&format!(
            "no drift: {} methods, same hashes in {} and {}",
            a.len(),
            a_path.display(),
            b_path.display()
        ));
    } else {
        let mut table = Table::new(&["CHANGE", "METHOD", "A", "B"]);
        for m in &d.removed {
            table.row(vec![
                "removed".into(),
                m.clone(),
                "present".into(),
                "-".into(),
            ]);
        }
        for m in &d.added {
            table.row(vec![
                "added".into(),
                m.clone(),
                "-".into(),
                "present".into(),
            ]);
        }
        for (m, which, ha, hb) in &d.changed {
            table.row(vec![
                format!("{which} hash"),
                m.clone(),
                short(ha.as_ref()),
                short(hb.as_ref()),
            ]);
        }
        out.line(&table.render());
    }
    if d.is_empty() {
        return Ok(());
    }
    let err = CliError::failed(format!(
        "schema drift: {} added, {} removed, {} changed",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    ));
    Err(if out.json { err.already_printed() } else { err })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_are_read_and_compared() {
        let rs = json!({"generatedBy": "clamator-rs v0.1.0", "contracts": {"arith": {
            "add": {"paramsHash": "aa", "resultHash": "bb"},
            "divide": {"paramsHash": "aa", "resultHash": "cc"}}}});
        let bare = json!({"arith": {
            "add": {"params_hash": "aa", "result_hash": "bx"},
            "slowAdd": {"paramsHash": "dd", "resultHash": "bb"}}});
        let d = diff(&parse(&rs).unwrap(), &parse(&bare).unwrap());
        assert_eq!(d.added, ["arith.slowAdd"]);
        assert_eq!(d.removed, ["arith.divide"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].1, "result");
        assert!(diff(&parse(&rs).unwrap(), &parse(&rs).unwrap()).is_empty());
        assert!(parse(&json!([1])).is_err());
    }
}
