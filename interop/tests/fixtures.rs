//! Every golden vector under `interop/fixtures/` against the protocol crate. Adding a case is
//! adding a JSON file; a drifting envelope rule or dispatcher row fails here with the file name.

use clamator_interop::fixtures::{
    case_files, run_dispatch_case, run_envelope_case, DispatchCase, EnvelopeCase,
};

fn load<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn envelope_fixtures() {
    let files = case_files("envelopes").unwrap();
    assert!(
        files.len() >= 40,
        "envelope fixtures missing: {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let case: EnvelopeCase = load(path);
            run_envelope_case(&case)
                .err()
                .map(|e| format!("{} ({}):\n     {e}", path.display(), case.description))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn dispatch_fixtures() {
    let files = case_files("dispatch").unwrap();
    assert!(
        files.len() >= 20,
        "dispatch fixtures missing: {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let case: DispatchCase = load(path);
        if let Err(e) = run_dispatch_case(&case).await {
            failures.push(format!(
                "{} ({}):\n     {e}",
                path.display(),
                case.description
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_matcher_is_not_vacuous() {
    use clamator_interop::fixtures::matches;
    use serde_json::json;
    assert!(matches(&json!({"a": 5}), &json!({"a": 5.0})));
    assert!(!matches(&json!({"a": 5}), &json!({"a": 6})));
    assert!(!matches(&json!({"a": 5}), &json!({"a": 5, "b": 1})));
    assert!(matches(&json!({"$any": true}), &json!([1, 2])));
    assert!(!matches(&json!(null), &json!({})));
}
