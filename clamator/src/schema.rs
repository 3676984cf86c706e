//! JSON Schema of params and result types, rendered to the exact text clamator's TypeScript
//! codegen hashes, so a Rust contract and a TypeScript/Python one can be compared by hash.
//!
//! The TypeScript codegen hashes `JSON.stringify(zodToJsonSchema(schema, {target:
//! "jsonSchema7", $refStrategy: "none"}))` (spec §8.4). This module asks
//! [schemars](https://docs.rs/schemars) for the draft-07 schema of a Rust type and rewrites it
//! into that form: definitions inlined, annotations dropped, keys in zod-to-json-schema's order,
//! `"$schema"` last.
//!
//! # Supported subset
//!
//! | Rust (serde + schemars)                      | Rendered as (zod equivalent)                                              |
//! |----------------------------------------------|---------------------------------------------------------------------------|
//! | struct with named fields                     | `{"type":"object","properties":…,"required":[…],"additionalProperties":false}` (`z.object`) |
//! | `Option<T>` field (not required)             | the schema of `T`, field not in `required` (`.optional()`)                 |
//! | `Option<T>` that must be present (e.g. a whole params/result type) | `{"type":["string","null"]}` for string/number/boolean, else `{"anyOf":[T,{"type":"null"}]}` (`.nullable()`) |
//! | `f32`, `f64`                                 | `{"type":"number"}`                                                       |
//! | integers                                     | `{"type":"integer"}` plus schemars' `minimum`/`maximum` (`u64`: `"minimum":0`, i.e. `.int().nonnegative()`) |
//! | `String`, `bool`, `()`                       | `{"type":"string"}`, `{"type":"boolean"}`, `{"type":"null"}`              |
//! | `Vec<T>`, `[T; N]`                           | `{"type":"array","items":T}` (+ `minItems`/`maxItems`); `items` omitted for `serde_json::Value` as zod omits it for `z.any()` |
//! | `HashSet<T>`/`BTreeSet<T>`                   | `{"type":"array","uniqueItems":true,"items":T}` (`z.set`)                 |
//! | `HashMap<String, T>`/`BTreeMap`              | `{"type":"object","additionalProperties":T}` (`z.record`)                 |
//! | unit-variant enum                            | `{"type":"string","enum":[…]}` (`z.enum`)                                 |
//! | `serde_json::Value`                          | `{}` (`z.any()`), never required                                          |
//! | `#[serde(default)]` field                    | the field's schema followed by `"default":…` (`.default(…)`), not required |
//!
//! Dropped because zod does not render them for the equivalent contract: `title`,
//! `description` (doc comments), `examples`, `$comment`, `deprecated`, `readOnly`,
//! `writeOnly`, and schemars' numeric `format`s (`double`, `int64`, …). A struct always gets
//! `"additionalProperties":false`, with or without `#[serde(deny_unknown_fields)]`: zod's default
//! `z.object` strips unknown keys and renders `false`, just as serde ignores them.
//!
//! Known ambiguity: schemars renders `Option<Option<T>>` like `Option<T>`, so such a field
//! hashes as zod's `.optional()`, not `.nullable().optional()`.
//!
//! Everything else (tuples, data-carrying enums, `oneOf`/`allOf`, string `format`s,
//! `pattern`, recursive types, maps with a schema'd key, …) is rejected with a [`SchemaError`]
//! naming the JSON path, never hashed approximately: a wrong hash would report drift that does
//! not exist, or hide drift that does.

use std::fmt;

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// The meta-schema URI every rendered schema ends with (draft-07, as zod-to-json-schema writes).
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// A schema outside the supported subset (see the [module docs](self)); nothing was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The Rust type whose schema failed.
    pub type_name: String,
    /// JSON-pointer-like location inside the schema (`/properties/a`).
    pub path: String,
    /// What is unsupported there.
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(
            f,
            "unsupported JSON Schema for {} at {}: {}",
            self.type_name, path, self.message
        )
    }
}

impl std::error::Error for SchemaError {}

/// schemars' draft-07 schema of `T`, definitions inlined where possible (the input of
/// [`normalize`]; useful to see why a type is rejected).
pub fn draft07_schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// The zod-to-json-schema form of `T`'s schema, as a value.
pub fn schema_value<T: JsonSchema>() -> Result<Value, SchemaError> {
    normalize(&draft07_schema::<T>()).map_err(|mut e| {
        e.type_name = std::any::type_name::<T>().to_owned();
        e
    })
}

/// The exact text the TypeScript codegen hashes for the equivalent zod schema.
pub fn schema_text<T: JsonSchema>() -> Result<String, SchemaError> {
    Ok(schema_value::<T>()?.to_string())
}

/// Lowercase hex SHA-256 of [`schema_text`]: the manifest's `paramsHash` / `resultHash`.
pub fn schema_hash<T: JsonSchema>() -> Result<String, SchemaError> {
    Ok(sha256_hex(&schema_text::<T>()?))
}

/// Lowercase hex SHA-256 of a text, as the codegen's `createHash("sha256").digest("hex")`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rewrites a draft-07 root schema (as schemars emits it) into the zod-to-json-schema form.
///
/// `$ref`s into `#/definitions` or `#/$defs` are inlined; a recursive type is an error.
pub fn normalize(root: &Value) -> Result<Value, SchemaError> {
    let mut n = Normalizer {
        root,
        refs: Vec::new(),
    };
    let mut out = n.node(root, "", true)?;
    match &mut out {
        Value::Object(map) => {
            map.insert("$schema".to_owned(), Value::from(DRAFT_07));
        }
        _ => unreachable!("node() always returns an object"),
    }
    Ok(out)
}

/// Keys that carry no validation meaning and that zod renders only when asked to.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
];

struct Normalizer<'a> {
    root: &'a Value,
    /// `$ref`s being inlined, to reject recursion instead of looping.
    refs: Vec<String>,
}

fn err(path: &str, message: impl Into<String>) -> SchemaError {
    SchemaError {
        type_name: String::from("<schema>"),
        path: path.to_owned(),
        message: message.into(),
    }
}

impl<'a> Normalizer<'a> {
    /// One schema node. `top` allows the root-only keys (`$schema`, `definitions`, `$defs`).
    fn node(&mut self, v: &Value, path: &str, top: bool) -> Result<Value, SchemaError> {
        let map = match v {
            Value::Bool(true) => return Ok(Value::Object(Map::new())),
            Value::Object(map) => map,
            _ => return Err(err(path, format!("expected a schema object, found {v}"))),
        };
        if let Some(r) = map.get("$ref") {
            return self.reference(r, map, path);
        }
        let mut rest: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
            .filter(|(k, _)| !(top && matches!(k.as_str(), "$schema" | "definitions" | "$defs")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let default = rest.remove("default");
        let mut out = if let Some(inner) = nullable_inner(&rest) {
            let inner = self.node(&inner, path, false)?;
            render_nullable(inner)
        } else {
            self.typed(rest, path)?
        };
        if let Some(default) = default {
            out.as_object_mut()
                .expect("nodes are objects")
                .insert("default".to_owned(), js_numbers(default));
        }
        Ok(out)
    }

    fn reference(
        &mut self,
        r: &Value,
        map: &Map<String, Value>,
        path: &str,
    ) -> Result<Value, SchemaError> {
        let r = r
            .as_str()
            .ok_or_else(|| err(path, "$ref is not a string"))?;
        if let Some(extra) = map
            .keys()
            .find(|k| *k != "$ref" && !ANNOTATIONS.contains(&k.as_str()))
        {
            return Err(err(path, format!("keyword `{extra}` next to $ref")));
        }
        if self.refs.iter().any(|seen| seen == r) {
            return Err(err(
                path,
                format!("recursive type ({r}); zod-to-json-schema with $refStrategy none cannot render it either"),
            ));
        }
        let target = self.lookup(r, path)?;
        self.refs.push(r.to_owned());
        let out = self.node(target, path, false);
        self.refs.pop();
        out
    }

    /// A node that is not nullable: dispatch on `type`.
    fn typed(&mut self, mut rest: Map<String, Value>, path: &str) -> Result<Value, SchemaError> {
        let ty = match rest.remove("type") {
            None if rest.is_empty() => return Ok(Value::Object(Map::new())),
            None => {
                let keys: Vec<&String> = rest.keys().collect();
                return Err(err(
                    path,
                    format!("schema without a single `type` (keys {keys:?}); unions and untyped schemas are not supported"),
                ));
            }
            Some(Value::String(t)) => t,
            Some(other) => {
                return Err(err(
                    path,
                    format!("union type {other} is not supported (only `T | null`)"),
                ))
            }
        };
        let mut out = Map::new();
        out.insert("type".to_owned(), Value::from(ty.as_str()));
        match ty.as_str() {
            "object" => self.object(&mut rest, &mut out, path)?,
            "array" => self.array(&mut rest, &mut out, path)?,
            "string" => {
                take(
                    &mut rest,
                    &mut out,
                    &["enum", "const", "minLength", "maxLength"],
                );
            }
            "number" | "integer" => {
                if let Some(Value::String(_)) = rest.get("format") {
                    rest.remove("format");
                }
                take(&mut rest, &mut out, &["minimum", "maximum"]);
            }
            "boolean" => take(&mut rest, &mut out, &["const"]),
            "null" => {}
            other => return Err(err(path, format!("unknown type `{other}`"))),
        }
        if let Some(k) = rest.keys().next() {
            return Err(err(
                path,
                format!("keyword `{k}` is not supported for type `{ty}`"),
            ));
        }
        Ok(Value::Object(out))
    }

    fn object(
        &mut self,
        rest: &mut Map<String, Value>,
        out: &mut Map<String, Value>,
        path: &str,
    ) -> Result<(), SchemaError> {
        let properties = rest.remove("properties");
        let required = rest.remove("required");
        let additional = rest.remove("additionalProperties");
        let Some(properties) = properties else {
            // A map (`z.record`): additionalProperties carries the value schema.
            if required.is_some() {
                return Err(err(path, "`required` without `properties`"));
            }
            return match additional {
                None | Some(Value::Bool(false)) => {
                    // `struct Empty {}` renders like `z.object({})`.
                    out.insert("properties".to_owned(), Value::Object(Map::new()));
                    out.insert("additionalProperties".to_owned(), Value::Bool(false));
                    Ok(())
                }
                Some(value) => {
                    if rest.contains_key("propertyNames") {
                        return Err(err(
                            path,
                            "maps with a constrained key type are not supported",
                        ));
                    }
                    let value =
                        self.node(&value, &format!("{path}/additionalProperties"), false)?;
                    out.insert("additionalProperties".to_owned(), value);
                    Ok(())
                }
            };
        };
        let Value::Object(properties) = properties else {
            return Err(err(path, "`properties` is not an object"));
        };
        let required: Vec<String> = match required {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .into_iter()
                .map(|n| match n {
                    Value::String(s) => Ok(s),
                    other => Err(err(path, format!("non-string in `required`: {other}"))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(err(path, format!("`required` is {other}"))),
        };
        if let Some(missing) = required.iter().find(|r| !properties.contains_key(*r)) {
            return Err(err(
                path,
                format!("required field `{missing}` has no property schema"),
            ));
        }
        match additional {
            None | Some(Value::Bool(false)) => {}
            Some(other) => {
                return Err(err(
                    path,
                    format!("additionalProperties {other} on a struct (e.g. #[serde(flatten)] of a map) is not supported"),
                ))
            }
        }
        let mut rendered = Map::new();
        let mut required_in_order = Vec::new();
        for (name, schema) in &properties {
            let field_path = format!("{path}/properties/{name}");
            let is_required = required.contains(name);
            let value = if is_required {
                self.node(schema, &field_path, false)?
            } else {
                self.optional_field(schema, &field_path)?
            };
            // zod treats `z.any()` as optional, and serde fills a missing `Value` with null.
            let accepts_anything = value.as_object().is_some_and(Map::is_empty);
            if is_required && !accepts_anything {
                required_in_order.push(Value::from(name.as_str()));
            }
            rendered.insert(name.clone(), value);
        }
        out.insert("properties".to_owned(), Value::Object(rendered));
        if !required_in_order.is_empty() {
            out.insert("required".to_owned(), Value::Array(required_in_order));
        }
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
        Ok(())
    }

    /// A field that may be absent: `Option<T>` renders as `T` (zod `.optional()`), a
    /// `#[serde(default)]` field as `T` plus its default (zod `.default(…)`).
    fn optional_field(&mut self, schema: &Value, path: &str) -> Result<Value, SchemaError> {
        let resolved = self.resolve_top_ref(schema, path)?;
        let Value::Object(map) = &resolved else {
            return self.node(&resolved, path, false);
        };
        let mut rest: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let default = rest.remove("default");
        match nullable_inner(&rest) {
            Some(inner) => {
                let mut out = self.node(&inner, path, false)?;
                match default {
                    None | Some(Value::Null) => {}
                    Some(d) => {
                        out.as_object_mut()
                            .expect("nodes are objects")
                            .insert("default".to_owned(), js_numbers(d));
                    }
                }
                Ok(out)
            }
            None => self.node(&resolved, path, false),
        }
    }

    /// The definition a `$ref` names (`#/definitions/…` or `#/$defs/…`).
    fn lookup(&self, r: &str, path: &str) -> Result<&'a Value, SchemaError> {
        r.strip_prefix("#/definitions/")
            .map(|name| ("definitions", name))
            .or_else(|| r.strip_prefix("#/$defs/").map(|name| ("$defs", name)))
            .and_then(|(section, name)| self.root.get(section)?.get(name))
            .ok_or_else(|| err(path, format!("unresolvable $ref {r}")))
    }

    fn resolve_top_ref(&mut self, schema: &Value, path: &str) -> Result<Value, SchemaError> {
        match schema.get("$ref") {
            Some(r) => {
                let r = r
                    .as_str()
                    .ok_or_else(|| err(path, "$ref is not a string"))?;
                Ok(self.lookup(r, path)?.clone())
            }
            None => Ok(schema.clone()),
        }
    }

    fn array(
        &mut self,
        rest: &mut Map<String, Value>,
        out: &mut Map<String, Value>,
        path: &str,
    ) -> Result<(), SchemaError> {
        if let Some(unique) = rest.remove("uniqueItems") {
            if unique != Value::Bool(true) {
                return Err(err(path, format!("uniqueItems {unique}")));
            }
            out.insert("uniqueItems".to_owned(), unique);
        }
        match rest.remove("items") {
            Some(Value::Array(_)) => {
                return Err(err(path, "tuples (positional `items`) are not supported"))
            }
            Some(items) => {
                let items = self.node(&items, &format!("{path}/items"), false)?;
                // zod-to-json-schema leaves `items` out for `z.array(z.any())`.
                if items.as_object().is_some_and(|m| !m.is_empty()) {
                    out.insert("items".to_owned(), items);
                }
            }
            None => {}
        }
        take(rest, out, &["minItems", "maxItems"]);
        Ok(())
    }
}

/// Moves `keys` (in that order, when present) from `rest` to `out`.
fn take(rest: &mut Map<String, Value>, out: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = rest.remove(*key) {
            out.insert((*key).to_owned(), js_numbers(v));
        }
    }
}

/// The non-null part of a `T | null` schema as schemars writes it (`"type": [T, "null"]` or
/// `anyOf: [T, {"type": "null"}]`), or `None` when the schema is not nullable.
fn nullable_inner(map: &Map<String, Value>) -> Option<Value> {
    if let Some(Value::Array(types)) = map.get("type") {
        let null = Value::from("null");
        if types.len() == 2 && types.contains(&null) {
            let other = types.iter().find(|t| **t != null)?.clone();
            let mut inner = map.clone();
            inner.insert("type".to_owned(), other);
            if let Some(Value::Array(variants)) = inner.get_mut("enum") {
                variants.retain(|v| !v.is_null());
            }
            return Some(Value::Object(inner));
        }
        return None;
    }
    if let Some(Value::Array(any_of)) = map.get("anyOf") {
        let is_null = |v: &Value| v.get("type") == Some(&Value::from("null"));
        let only_any_of = map
            .keys()
            .all(|k| k == "anyOf" || ANNOTATIONS.contains(&k.as_str()));
        if only_any_of && any_of.len() == 2 && any_of.iter().filter(|v| is_null(v)).count() == 1 {
            return any_of.iter().find(|v| !is_null(v)).cloned();
        }
    }
    None
}

/// zod-to-json-schema's `.nullable()`: a type union for plain primitives, `anyOf` otherwise.
fn render_nullable(inner: Value) -> Value {
    let primitive = inner.as_object().and_then(|m| {
        let t = m.get("type")?.as_str()?;
        (m.len() == 1 && matches!(t, "string" | "number" | "boolean")).then(|| t.to_owned())
    });
    match primitive {
        Some(t) => serde_json::json!({ "type": [t, "null"] }),
        None => serde_json::json!({ "anyOf": [inner, { "type": "null" }] }),
    }
}

/// Integral floats print as integers, as `JSON.stringify` does (`0.0` → `0`).
fn js_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                // The bound keeps the conversion exact.
                #[allow(clippy::cast_possible_truncation)]
                Value::Number(Number::from(f as i64))
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(js_numbers).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, js_numbers(v))).collect()),
        other => other,
    }
}
