//! Params and result validation, with `data` in the Python peer's shape so a Python caller can
//! read it: `{"errors":[{"type","loc","msg","input"}]}` (pydantic's `ValidationError.errors()`).
//!
//! `type` names the serde failure (`missing`, `extra_forbidden`, `invalid_type`, `invalid_value`,
//! `invalid_length`, `unknown_variant`, `value_error`, and `serialization` for results); `loc`
//! is the real path into the params (object keys as strings, array indices as numbers). Serde
//! stops at the first problem, so the list holds one error.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use serde_path_to_error::{Path, Segment};

use crate::omit_none::OmitNone;

/// Deserializes params into `P`; on failure returns the -32602 `data`.
///
/// `null` params are read as `{}` (the TypeScript peer's rule), so a params struct whose fields
/// are all optional accepts a caller that sent nothing.
pub fn decode_params<P: DeserializeOwned>(params: &Value) -> Result<P, Value> {
    let empty;
    let params = if params.is_null() {
        empty = Value::Object(Default::default());
        &empty
    } else {
        params
    };
    decode(params)
}

/// Deserializes any JSON value into `T`; on failure returns `{"errors":[…]}` data with the
/// path of the offending field.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, Value> {
    // Path tracking costs ~10x a plain deserialize; pay it only to describe a failure.
    if let Ok(decoded) = T::deserialize(value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().clone();
        let inner = err.into_inner();
        errors_data(error_entry(value, &path, &inner.to_string()))
    })
}

/// Serializes a handler's result, omitting `None` struct fields; on failure returns the
/// "Result validation failed" `data`.
pub fn encode_result<R: Serialize + ?Sized>(result: &R) -> Result<Value, Value> {
    // As in `decode`: track the path only to describe a failure.
    if let Ok(value) = crate::omit_none::to_value(result) {
        return Ok(value);
    }
    serde_path_to_error::serialize(&OmitNone(result), serde_json::value::Serializer).map_err(
        |err| {
            let loc = loc_of(err.path());
            errors_data(json!({
                "type": "serialization",
                "loc": loc,
                "msg": err.into_inner().to_string(),
            }))
        },
    )
}

fn errors_data(entry: Value) -> Value {
    json!({ "errors": [entry] })
}

fn loc_of(path: &Path) -> Vec<Value> {
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(json!(index)),
            Segment::Map { key } => Some(json!(key)),
            Segment::Enum { variant } => Some(json!(variant)),
            Segment::Unknown => None,
        })
        .collect()
}

/// The value at `loc` inside `root`, if the path resolves.
fn value_at<'a>(root: &'a Value, loc: &[Value]) -> Option<&'a Value> {
    loc.iter().try_fold(root, |node, key| match key {
        Value::String(k) => node.get(k.as_str()),
        Value::Number(i) => node.get(usize::try_from(i.as_u64()?).ok()?),
        _ => None,
    })
}

/// Text between the first pair of backticks in a serde message (`missing field `a``).
fn quoted_name(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn error_entry(params: &Value, path: &Path, msg: &str) -> Value {
    let mut loc = loc_of(path);
    let parent_input = value_at(params, &loc).cloned().unwrap_or(Value::Null);
    let (kind, msg_out, input) = if msg.starts_with("missing field") {
        if let Some(field) = quoted_name(msg) {
            loc.push(json!(field));
        }
        ("missing", "Field required".to_owned(), parent_input)
    } else if msg.starts_with("unknown field") {
        // serde_path_to_error already ends the path with the unknown key.
        if let Some(field) = quoted_name(msg).filter(|f| loc.last() != Some(&json!(f))) {
            loc.push(json!(field));
        }
        let input = value_at(params, &loc).cloned().unwrap_or(Value::Null);
        (
            "extra_forbidden",
            "Extra inputs are not permitted".to_owned(),
            input,
        )
    } else {
        let kind = [
            "invalid type",
            "invalid value",
            "invalid length",
            "unknown variant",
        ]
        .into_iter()
        .find(|prefix| msg.starts_with(prefix))
        .map_or("value_error", |prefix| match prefix {
            "invalid type" => "invalid_type",
            "invalid value" => "invalid_value",
            "invalid length" => "invalid_length",
            _ => "unknown_variant",
        });
        (kind, msg.to_owned(), parent_input)
    };
    json!({ "type": kind, "loc": loc, "msg": msg_out, "input": input })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Add {
        a: f64,
        b: f64,
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        items: Vec<Add>,
    }

    #[test]
    fn wrong_type_has_loc_and_input() {
        let err = decode_params::<Add>(&json!({"a":"two","b":3})).unwrap_err();
        let e = &err["errors"][0];
        assert_eq!(e["type"], "invalid_type");
        assert_eq!(e["loc"], json!(["a"]));
        assert_eq!(e["input"], "two");
        assert!(e["msg"].as_str().unwrap().contains("expected f64"), "{e}");
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let err = decode_params::<Add>(&json!({"a":1})).unwrap_err();
        let e = &err["errors"][0];
        assert_eq!(e["type"], "missing");
        assert_eq!(e["loc"], json!(["b"]));
        assert_eq!(e["msg"], "Field required");
        assert_eq!(e["input"], json!({"a":1}));
    }

    #[test]
    fn extra_field_when_the_type_forbids_it() {
        let err = decode_params::<Add>(&json!({"a":1,"b":2,"c":3})).unwrap_err();
        let e = &err["errors"][0];
        assert_eq!(e["type"], "extra_forbidden");
        assert_eq!(e["loc"], json!(["c"]));
        assert_eq!(e["input"], 3);
    }

    #[test]
    fn nested_paths_include_indices() {
        let err =
            decode_params::<Outer>(&json!({"items":[{"a":1,"b":2},{"a":1,"b":"x"}]})).unwrap_err();
        assert_eq!(err["errors"][0]["loc"], json!(["items", 1, "b"]));
        assert_eq!(err["errors"][0]["input"], "x");
    }

    #[test]
    fn null_params_read_as_empty_object() {
        #[derive(Deserialize)]
        struct Opt {
            tag: Option<String>,
        }
        assert!(decode_params::<Opt>(&Value::Null).unwrap().tag.is_none());
        assert!(decode_params::<Add>(&Value::Null).is_err());
    }

    #[test]
    fn unserializable_result_reports_a_path() {
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1);
        let err = encode_result(&json!({"ok": 1}).as_object().map(|_| bad)).unwrap_err();
        assert_eq!(err["errors"][0]["type"], "serialization");
        assert!(err["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("key must be"));
    }
}
