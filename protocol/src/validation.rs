//! Params and result validation, with `data` in the Python peer's shape so a Python caller can
//! read it: `{"errors":[{"type","loc","msg","input"}]}` (pydantic's `ValidationError.errors()`).
//!
//! `type` names the serde failure (`missing`, `extra_forbidden`, `invalid_type`, `invalid_value`,
//! `invalid_length`, `unknown_variant`, `value_error`, `serialization` for results, and
//! `integer_out_of_range` from [`Envelope::refusal`](crate::Envelope::refusal)); `loc`
//! is the real path into the params (object keys as strings, array indices as numbers).
//!
//! **Every bad field, not only the first.** Serde stops at the first problem; the Python peer
//! lists them all. After a failure, [`decode`] records the error, patches the offending spot in
//! a copy of the input (drops a forbidden key, or puts a stand-in value where a field is
//! missing or of the wrong type: `null`, `0`, `""`, `false`, `[]` or `{}`, the first one that
//! gets past it) and deserializes again, so the next bad field surfaces. Errors inside a
//! stand-in are not reported (they are about the stand-in), and the search is bounded
//! ([`MAX_ATTEMPTS`] deserializations), so a field no stand-in satisfies (an unknown enum
//! variant, say) or a huge input ends the list early rather than the call. The cost is paid
//! only for params that fail.
//!
//! **Integral floats are integers** (pydantic's lax mode): a float with no fractional part,
//! such as `2.0`, is accepted where an integer field rejected it. Only the fields that refused
//! a float are changed, so a `serde_json::Value` or `f64` field keeps `2.0` as it came.

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
/// path of every offending field it can find (see the [module docs](self)). An integral float
/// where `T` wants an integer is read as that integer.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, Value> {
    // Path tracking costs ~10x a plain deserialize; pay it only to describe a failure.
    if let Ok(decoded) = T::deserialize(value) {
        return Ok(decoded);
    }
    decode_slow(value)
}

/// How many deserializations one failed decode may spend collecting errors.
pub const MAX_ATTEMPTS: usize = 64;

/// Stand-ins tried, in order, where a field is missing or of the wrong type.
const STAND_INS: [fn() -> Value; 6] = [
    || Value::Null,
    || json!(0),
    || json!(""),
    || json!(false),
    || json!([]),
    || json!({}),
];

fn decode_slow<T: DeserializeOwned>(original: &Value) -> Result<T, Value> {
    let mut work = original.clone();
    let mut errors: Vec<Value> = Vec::new();
    // Where a stand-in was put: errors at or under these are about the stand-in.
    let mut invented: Vec<Vec<Value>> = Vec::new();
    // Integral floats read as integers, with the error the float gave (reported if the integer
    // fails too).
    let mut coerced: Vec<(Vec<Value>, Value)> = Vec::new();
    // The stand-in being tried and where.
    let mut trying: Option<(Vec<Value>, usize)> = None;
    let mut first: Option<Value> = None;
    for _ in 0..MAX_ATTEMPTS {
        let err = match serde_path_to_error::deserialize::<_, T>(&work) {
            Ok(decoded) if errors.is_empty() => return Ok(decoded),
            Ok(_) => return Err(errors_data_list(errors)),
            Err(err) => err,
        };
        let path = err.path().clone();
        let msg = err.into_inner().to_string();
        // The entry as reported: its `input` read from what the caller sent.
        let entry = error_entry(original, &path, &msg);
        let loc = entry["loc"].as_array().cloned().unwrap_or_default();
        first.get_or_insert_with(|| entry.clone());

        if let Some((at, index)) = &mut trying {
            if *at == loc {
                // The stand-in did not get past it either: try the next one.
                *index += 1;
                match STAND_INS.get(*index) {
                    Some(stand_in) if put(&mut work, &loc, stand_in()) => continue,
                    _ => break,
                }
            }
        }
        trying = None;

        if msg.starts_with("invalid type: floating point")
            && !coerced.iter().any(|(l, _)| *l == loc)
        {
            if let Some(integer) = value_at(&work, &loc).and_then(integral) {
                coerced.push((loc.clone(), entry));
                put(&mut work, &loc, integer);
                continue;
            }
        }

        if !invented.iter().any(|prefix| loc.starts_with(prefix)) {
            let reported = coerced
                .iter()
                .find(|(l, _)| *l == loc)
                .map_or(entry, |(_, float_error)| float_error.clone());
            errors.push(reported);
        }

        let repaired = if msg.starts_with("unknown field") {
            remove(&mut work, &loc)
        } else {
            invented.push(loc.clone());
            let ok = put(&mut work, &loc, STAND_INS[0]());
            trying = Some((loc, 0));
            ok
        };
        if !repaired {
            break;
        }
    }
    if errors.is_empty() {
        errors.extend(first);
    }
    Err(errors_data_list(errors))
}

/// An integral float as a JSON integer (`2.0` → `2`), if it fits `i64` or `u64`.
fn integral(value: &Value) -> Option<Value> {
    let f = value.as_f64().filter(|_| value.is_f64())?;
    if f.fract() != 0.0 {
        return None;
    }
    // 2^64 and -2^63 are exact in f64; inside them the cast is exact for an integral value.
    if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
        Some(json!(f as u64))
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        Some(json!(f as i64))
    } else {
        None
    }
}

fn slot<'a>(root: &'a mut Value, loc: &[Value]) -> Option<&'a mut Value> {
    loc.iter().try_fold(root, |node, key| match key {
        Value::String(k) => node.get_mut(k.as_str()),
        Value::Number(i) => node.get_mut(usize::try_from(i.as_u64()?).ok()?),
        _ => None,
    })
}

/// Sets (or inserts, for an object key) the value at `loc`; false if the path does not resolve.
fn put(root: &mut Value, loc: &[Value], value: Value) -> bool {
    let Some((last, parent)) = loc.split_last() else {
        *root = value;
        return true;
    };
    match (slot(root, parent), last) {
        (Some(Value::Object(map)), Value::String(key)) => {
            map.insert(key.clone(), value);
            true
        }
        (Some(Value::Array(items)), Value::Number(i)) => i
            .as_u64()
            .and_then(|i| items.get_mut(usize::try_from(i).ok()?))
            .map(|item| *item = value)
            .is_some(),
        _ => false,
    }
}

/// Removes the object key at `loc`, keeping the order of the others.
fn remove(root: &mut Value, loc: &[Value]) -> bool {
    let Some((Value::String(key), parent)) = loc.split_last() else {
        return false;
    };
    match slot(root, parent) {
        Some(Value::Object(map)) => map.remove(key.as_str()).is_some(),
        _ => false,
    }
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

fn errors_data_list(entries: Vec<Value>) -> Value {
    json!({ "errors": entries })
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
    fn every_bad_field_is_listed() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Order {
            id: u32,
            note: String,
            lines: Vec<Add>,
            tags: Option<Vec<String>>,
        }
        let params = json!({
            "id": "seven",
            "extra": 1,
            "lines": [{"a": 1, "b": 2}, {"a": "x"}],
            "tags": "not a list"
        });
        let err = decode_params::<Order>(&params).unwrap_err();
        // Listed in the order serde meets the keys, which is the params object's key order
        // (sorted without serde_json's `preserve_order`): compared as a set.
        let errors = err["errors"].as_array().unwrap();
        let mut found: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["loc"]))
            .collect();
        found.sort();
        let mut expected = vec![
            r#"invalid_type ["id"]"#,
            r#"extra_forbidden ["extra"]"#,
            r#"invalid_type ["lines",1,"a"]"#,
            r#"missing ["lines",1,"b"]"#,
            r#"invalid_type ["tags"]"#,
            r#"missing ["note"]"#,
        ];
        expected.sort_unstable();
        assert_eq!(found, expected, "{err}");
        // Inputs are what the caller sent, not the stand-ins used to get past a field.
        let input_at = |loc: Value| {
            errors
                .iter()
                .find(|e| e["loc"] == loc)
                .map(|e| e["input"].clone())
                .unwrap()
        };
        assert_eq!(input_at(json!(["id"])), "seven");
        assert_eq!(input_at(json!(["lines", 1, "b"])), json!({"a": "x"}));
        assert_eq!(err["errors"][5]["input"], params);
    }

    #[test]
    fn nothing_is_reported_from_inside_a_stand_in() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Add,
            n: u8,
        }
        // `inner` is a string: one error there, then `{}` stands in and its own missing `a`/`b`
        // are not the caller's problem; `n` is.
        let err = decode_params::<Outer>(&json!({"inner": "x", "n": -1})).unwrap_err();
        let locs: Vec<&Value> = err["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["loc"])
            .collect();
        assert_eq!(locs, [&json!(["inner"]), &json!(["n"])], "{err}");
    }

    #[test]
    fn a_field_no_stand_in_fits_ends_the_list_not_the_call() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        enum Colour {
            Red,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Paint {
            colour: Colour,
            litres: f64,
        }
        let err = decode_params::<Paint>(&json!({"colour": "Blue", "litres": "x"})).unwrap_err();
        assert_eq!(err["errors"][0]["type"], "unknown_variant", "{err}");
        assert_eq!(err["errors"][0]["loc"], json!(["colour"]));
    }

    #[test]
    fn integral_floats_are_read_as_integers() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Sleep {
            #[serde(rename = "sleepMs")]
            sleep_ms: u64,
            offset: Option<i32>,
            raw: Value,
            ratio: f64,
        }
        let decoded = decode_params::<Sleep>(
            &json!({"sleepMs": 2.0, "offset": -3.0, "raw": 2.0, "ratio": 2.0}),
        )
        .unwrap();
        assert_eq!(decoded.sleep_ms, 2);
        assert_eq!(decoded.offset, Some(-3));
        // Only the fields that refused a float change: a `Value` keeps `2.0` as sent.
        assert!(decoded.raw.is_f64(), "{:?}", decoded.raw);
        assert_eq!(decoded.ratio, 2.0);
        assert_eq!(
            decode_params::<Sleep>(
                &json!({"sleepMs": 1.8446744073709552e19, "raw": 0, "ratio": 1})
            )
            .unwrap_err()["errors"][0]["loc"],
            json!(["sleepMs"]),
            "2^64 does not fit u64"
        );
    }

    #[test]
    fn fractional_floats_stay_errors_with_the_float_as_input() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Count {
            n: u8,
            s: String,
        }
        let err = decode_params::<Count>(&json!({"n": 2.5, "s": "ok"})).unwrap_err();
        assert_eq!(err["errors"][0]["loc"], json!(["n"]));
        assert_eq!(err["errors"][0]["input"], 2.5);
        assert_eq!(err["errors"].as_array().unwrap().len(), 1);
        // An integral float where a string belongs: the float's error, not the integer's.
        let err = decode_params::<Count>(&json!({"n": 1, "s": 2.0})).unwrap_err();
        let e = &err["errors"][0];
        assert_eq!(e["loc"], json!(["s"]));
        assert_eq!(e["input"], 2.0);
        assert!(e["msg"].as_str().unwrap().contains("floating point"), "{e}");
        assert_eq!(err["errors"].as_array().unwrap().len(), 1);
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
