//! `manifest diff` on a clamator-rs manifest and a TypeScript-codegen manifest: equal, then
//! drifted (exit 1).

mod support;

use clamator::manifest::Manifest;
use clamator_interop::contracts::{ArithContract, NotificationsContract};
use serde_json::{json, Value};
use support::Bus;

/// The TypeScript codegen's `--manifest` output for the interop contracts (spec §8.4).
fn typescript_manifest() -> Value {
    let add = "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a";
    let sum = "2b3c05f98f3a8af0c4efbffd67870cd52680734f78db11305104fb4c34c600a5";
    let text = "adc3e4cfa9ab969042bfcaf0dd86a64d9016afb817b8ee1a566faedc7b9c0688";
    json!({"generatedBy": "@clamator/codegen v0.1.9", "contracts": {
        "arith": {
            "add": {"paramsHash": add, "resultHash": sum},
            "divide": {"paramsHash": add,
                       "resultHash": "c01d75c2443d03c2302d3ee1d65ad808e20c42c5b08cbf030d6bef8aaafe4356"},
            "echoText": {"paramsHash": text, "resultHash": text},
            "slowAdd": {"paramsHash": "32167ef0441857b9cc4ba2839cb3eacf7a583564cf07bc3e66d8cbe84d233a82",
                        "resultHash": sum},
        },
        "notifications": {"ping": {
            "paramsHash": "8c0dc31e45bc656504171a30f477aa20e6894cd5c0f7e9f742c853c2d441df05",
            "resultHash": null}},
    }})
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn manifest_diff_equal_and_drifted() {
    let dir = std::env::temp_dir().join(format!("clamator-cli-manifest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let rust = Manifest::new()
        .with_contract::<ArithContract>()
        .unwrap()
        .with_contract::<NotificationsContract>()
        .unwrap()
        .to_json_string();
    let a = write(&dir, "rust.json", &rust);
    let b = write(
        &dir,
        "ts.json",
        &serde_json::to_string_pretty(&typescript_manifest()).unwrap(),
    );
    let bus = Bus::bare("manifest"); // no Redis needed: the command reads files only

    let run = bus.run(&["--json", "manifest", "diff", &a, &b]);
    run.expect_code(0);
    let doc = run.json();
    assert_eq!(doc["equal"], true, "{doc}");
    assert_eq!(doc["methods"], json!({"a": 5, "b": 5}));
    let run = bus.run(&["manifest", "diff", &a, &b]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("no drift: 5 methods"), "{run:?}");

    let mut drifted = typescript_manifest();
    let arith = drifted["contracts"]["arith"].as_object_mut().unwrap();
    arith.remove("divide");
    arith["add"]["resultHash"] = json!("0000");
    arith.insert(
        "mul".into(),
        json!({"paramsHash": "1111", "resultHash": "2222"}),
    );
    let c = write(&dir, "drifted.json", &drifted.to_string());
    let run = bus.run(&["--json", "manifest", "diff", &a, &c]);
    run.expect_code(1);
    let doc = run.json();
    assert_eq!(doc["equal"], false);
    assert_eq!(doc["added"], json!(["arith.mul"]));
    assert_eq!(doc["removed"], json!(["arith.divide"]));
    assert_eq!(doc["changed"].as_array().unwrap().len(), 1);
    assert_eq!(doc["changed"][0]["method"], "arith.add");
    assert_eq!(doc["changed"][0]["hash"], "result");
    assert_eq!(doc["changed"][0]["b"], "0000");
    let run = bus.run(&["manifest", "diff", &a, &c]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("removed") && run.stdout.contains("arith.mul"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("schema drift: 1 added, 1 removed, 1 changed"),
        "{run:?}"
    );

    let junk = write(&dir, "junk.json", "[1, 2]");
    let run = bus.run(&["--json", "manifest", "diff", &a, &junk]);
    run.expect_code(2);
    assert_eq!(run.json()["error"]["kind"], "usage");
    bus.run(&["manifest", "diff", &a, "/nonexistent.json"])
        .expect_code(2);
    std::fs::remove_dir_all(&dir).unwrap();
}
