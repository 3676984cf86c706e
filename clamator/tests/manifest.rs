//! The Rust schemas render to the TypeScript codegen's text and hashes (spec §8.4).

mod common;

use clamator::schema::{schema_hash, schema_text};
use clamator::{Manifest, ServiceContract};
use common::{
    AddParams, ArithContract, Calculator, DivideResult, NotificationsContract, PingParams,
    SlowAddParams, SumResult, Text,
};

const ADD_PARAMS: &str = "70e6175edca7384fd05004b0efc43493bcee78a57bf4a72fd005beb890965b6a";
const SUM_RESULT: &str = "2b3c05f98f3a8af0c4efbffd67870cd52680734f78db11305104fb4c34c600a5";
const DIVIDE_RESULT: &str = "c01d75c2443d03c2302d3ee1d65ad808e20c42c5b08cbf030d6bef8aaafe4356";
const TEXT: &str = "adc3e4cfa9ab969042bfcaf0dd86a64d9016afb817b8ee1a566faedc7b9c0688";
const SLOW_ADD_PARAMS: &str = "32167ef0441857b9cc4ba2839cb3eacf7a583564cf07bc3e66d8cbe84d233a82";
const PING_PARAMS: &str = "8c0dc31e45bc656504171a30f477aa20e6894cd5c0f7e9f742c853c2d441df05";

#[test]
fn schema_texts_are_the_zod_to_json_schema_texts() {
    assert_eq!(
        schema_text::<AddParams>().unwrap(),
        r##"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<Text>().unwrap(),
        r##"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<SlowAddParams>().unwrap(),
        r##"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"},"sleepMs":{"type":"integer","minimum":0}},"required":["a","b","sleepMs"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<PingParams>().unwrap(),
        r##"{"type":"object","properties":{"tag":{"type":"string"}},"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
}

#[test]
fn hashes_equal_the_spec_values() {
    assert_eq!(schema_hash::<AddParams>().unwrap(), ADD_PARAMS);
    assert_eq!(schema_hash::<SumResult>().unwrap(), SUM_RESULT);
    assert_eq!(schema_hash::<DivideResult>().unwrap(), DIVIDE_RESULT);
    assert_eq!(schema_hash::<Text>().unwrap(), TEXT);
    assert_eq!(schema_hash::<SlowAddParams>().unwrap(), SLOW_ADD_PARAMS);
    assert_eq!(schema_hash::<PingParams>().unwrap(), PING_PARAMS);
}

#[test]
fn a_generated_service_carries_the_manifest_hashes_for_presence() {
    let service = ArithContract::service(Calculator);
    assert_eq!(
        service.schema_hashes("add"),
        Some((ADD_PARAMS, Some(SUM_RESULT)))
    );
    assert_eq!(service.schema_hashes("echoText"), Some((TEXT, Some(TEXT))));
    assert_eq!(service.schema_hashes("nope"), None);
    let methods = clamator::MethodInfo::of_service(&service);
    let divide = methods.iter().find(|m| m.name == "divide").unwrap();
    assert_eq!(divide.params_hash.as_deref(), Some(ADD_PARAMS));
    assert_eq!(divide.result_hash.as_deref(), Some(DIVIDE_RESULT));
    assert!(methods
        .iter()
        .all(|m| m.params_hash.is_some() && m.kind == "request"));
}

#[test]
fn generated_entries_carry_the_wire_names_and_hashes() {
    let entries = ArithContract::manifest_entries().unwrap();
    let by_name: Vec<(&str, &str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.method, e.params_hash.as_str(), e.result_hash.as_deref()))
        .collect();
    assert_eq!(
        by_name,
        [
            ("add", ADD_PARAMS, Some(SUM_RESULT)),
            ("divide", ADD_PARAMS, Some(DIVIDE_RESULT)),
            ("echoText", TEXT, Some(TEXT)),
            ("slowAdd", SLOW_ADD_PARAMS, Some(SUM_RESULT)),
        ]
    );
    assert!(entries.iter().all(|e| e.service == "arith"));
    assert_eq!(
        <NotificationsContract as ServiceContract>::SERVICE_NAME,
        "notifications"
    );
}

#[test]
fn manifest_file_is_json_stringify_with_two_spaces_and_sorted_names() {
    // Added in reverse order on purpose: the file order must not depend on it.
    let manifest = Manifest::new()
        .generated_by("@clamator/codegen v0.1.9")
        .with_contract::<NotificationsContract>()
        .unwrap()
        .with_contract::<ArithContract>()
        .unwrap();
    let expected = format!(
        r#"{{
  "generatedBy": "@clamator/codegen v0.1.9",
  "contracts": {{
    "arith": {{
      "add": {{
        "paramsHash": "{ADD_PARAMS}",
        "resultHash": "{SUM_RESULT}"
      }},
      "divide": {{
        "paramsHash": "{ADD_PARAMS}",
        "resultHash": "{DIVIDE_RESULT}"
      }},
      "echoText": {{
        "paramsHash": "{TEXT}",
        "resultHash": "{TEXT}"
      }},
      "slowAdd": {{
        "paramsHash": "{SLOW_ADD_PARAMS}",
        "resultHash": "{SUM_RESULT}"
      }}
    }},
    "notifications": {{
      "ping": {{
        "paramsHash": "{PING_PARAMS}",
        "resultHash": null
      }}
    }}
  }}
}}
"#
    );
    assert_eq!(manifest.to_json_string(), expected);
}

#[test]
fn a_contract_cannot_be_added_twice() {
    let err = Manifest::new()
        .with_contract::<ArithContract>()
        .unwrap()
        .with_contract::<ArithContract>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "method arith.add added to the manifest twice"
    );
}
