//! `#[clamator::data]` derives exactly what a hand-written derive with crate paths gives.

use clamator::schema::{schema_hash, schema_text};
use clamator::JsonSchema;
use serde::{Deserialize, Serialize};

#[clamator::data]
#[serde(rename_all = "camelCase")]
struct ByAttribute {
    sensor_id: String,
    reading: Option<f64>,
    #[serde(default)]
    tries: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "camelCase")]
struct ByHand {
    sensor_id: String,
    reading: Option<f64>,
    #[serde(default)]
    tries: u32,
}

#[test]
fn same_schema_hash_as_the_hand_written_derives() {
    assert_eq!(
        schema_hash::<ByAttribute>().unwrap(),
        schema_hash::<ByHand>().unwrap()
    );
    let text = schema_text::<ByAttribute>().unwrap();
    assert!(text.contains("\"sensorId\""), "{text}");
}

#[test]
fn serde_attributes_are_kept() {
    let v: ByAttribute = serde_json::from_str(r#"{"sensorId":"t1","reading":2.5}"#).unwrap();
    assert_eq!(v.sensor_id, "t1");
    assert_eq!(v.tries, 0);
    let back = serde_json::to_value(&v).unwrap();
    assert_eq!(
        back,
        serde_json::json!({"sensorId":"t1","reading":2.5,"tries":0})
    );
}

#[clamator::data(crate = clamator)]
enum Colour {
    Red,
    Green,
}

#[test]
fn enums_and_an_explicit_crate_path() {
    let c: Colour = serde_json::from_str("\"Green\"").unwrap();
    assert!(matches!(c, Colour::Green));
    assert!(!matches!(c, Colour::Red));
    assert!(schema_text::<Colour>().unwrap().contains("\"enum\""));
}
