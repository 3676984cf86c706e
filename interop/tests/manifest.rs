//! The interop contracts render to the JSON Schemas the TypeScript codegen hashes (spec §8.4),
//! so a drift between these Rust types and clamator's own contracts fails here.

use clamator::manifest::Manifest;
use clamator_interop::contracts::{ArithContract, NotificationsContract};
use serde_json::Value;

#[test]
fn interop_contract_hashes_equal_the_typescript_codegen() {
    let manifest = Manifest::new()
        .with_contract::<ArithContract>()
        .unwrap()
        .with_contract::<NotificationsContract>()
        .unwrap();
    let doc: Value = serde_json::from_str(&manifest.to_json_string()).unwrap();
    let c = &doc["contracts"];
    let add = "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a";
    let sum = "2b3c05f98f3a8af0c4efbffd67870cd52680734f78db11305104fb4c34c600a5";
    let text = "adc3e4cfa9ab969042bfcaf0dd86a64d9016afb817b8ee1a566faedc7b9c0688";
    assert_eq!(c["arith"]["add"]["paramsHash"], add);
    assert_eq!(c["arith"]["add"]["resultHash"], sum);
    assert_eq!(c["arith"]["divide"]["paramsHash"], add);
    assert_eq!(
        c["arith"]["divide"]["resultHash"],
        "c01d75c2443d03c2302d3ee1d65ad808e20c42c5b08cbf030d6bef8aaafe4356"
    );
    assert_eq!(c["arith"]["echoText"]["paramsHash"], text);
    assert_eq!(c["arith"]["echoText"]["resultHash"], text);
    assert_eq!(
        c["arith"]["slowAdd"]["paramsHash"],
        "32167ef0441857b9cc4ba2839cb3eacf7a583564cf07bc3e66d8cbe84d233a82"
    );
    assert_eq!(c["arith"]["slowAdd"]["resultHash"], sum);
    assert_eq!(
        c["notifications"]["ping"]["paramsHash"],
        "8c0dc31e45bc656504171a30f477aa20e6894cd5c0f7e9f742c853c2d441df05"
    );
    assert_eq!(c["notifications"]["ping"]["resultHash"], Value::Null);
}
