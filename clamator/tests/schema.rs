//! The normalizer over the supported subset. Every expected text below was produced by
//! `JSON.stringify(zodToJsonSchema(schema, {target: "jsonSchema7", $refStrategy: "none"}))` with
//! zod 3.25.76 and zod-to-json-schema 3.25.2 (the versions of spec §8.4), for the zod schema in
//! each test's comment.

use std::collections::{BTreeMap, BTreeSet};

use clamator::schema::{schema_hash, schema_text};
use clamator::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Inner {
    x: i64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Flag {
    y: bool,
}

/// z.object({ inner: z.object({ x: z.number().int() }), list: z.array(z.string()),
///            opt: z.object({ y: z.boolean() }).optional() })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Nested {
    /// Doc comments become `description` in schemars and are dropped.
    inner: Inner,
    list: Vec<String>,
    opt: Option<Flag>,
}

#[test]
fn nested_structs_are_inlined() {
    assert_eq!(
        schema_text::<Nested>().unwrap(),
        r##"{"type":"object","properties":{"inner":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"],"additionalProperties":false},"list":{"type":"array","items":{"type":"string"}},"opt":{"type":"object","properties":{"y":{"type":"boolean"}},"required":["y"],"additionalProperties":false}},"required":["inner","list"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_hash::<Nested>().unwrap(),
        "be76aa5dd8a99e32a1da462661ce6c3e2d265ba2583864a1b68c70b4b4bd77a0"
    );
}

/// z.object({ d: z.number().int().min(0).max(255).optional() }): a `#[serde(default)]` Option
/// gets `"default": null` from schemars, which is dropped (it is just optional).
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct OptionalByte {
    #[serde(default)]
    d: Option<u8>,
}

#[test]
fn nullable_values_render_as_zod_nullable() {
    // A nullable value that must be present (here: a whole params/result type).
    // z.string().nullable(), z.number().int().nullable(), z.object({ y: z.boolean() }).nullable()
    assert_eq!(
        schema_text::<Option<String>>().unwrap(),
        r##"{"type":["string","null"],"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<Option<i64>>().unwrap(),
        r##"{"anyOf":[{"type":"integer"},{"type":"null"}],"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<Option<Flag>>().unwrap(),
        r##"{"anyOf":[{"type":"object","properties":{"y":{"type":"boolean"}},"required":["y"],"additionalProperties":false},{"type":"null"}],"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
    assert_eq!(
        schema_text::<OptionalByte>().unwrap(),
        r##"{"type":"object","properties":{"d":{"type":"integer","minimum":0,"maximum":255}},"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##
    );
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
}

/// z.object({ color: z.enum(["red", "green"]) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Paint {
    color: Color,
}

/// z.object({ m: z.record(z.number()) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Record {
    m: BTreeMap<String, f64>,
}

/// z.object({ s: z.set(z.string()) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Set {
    s: BTreeSet<String>,
}

/// z.object({ v: z.array(z.any()), w: z.any() })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Anything {
    v: Vec<serde_json::Value>,
    w: serde_json::Value,
}

fn three() -> u32 {
    3
}

/// z.object({ n: z.number().int().nonnegative().default(3) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Defaulted {
    #[serde(default = "three")]
    n: u32,
}

/// z.object({ n: z.number().int().min(0).max(255) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Byte {
    n: u8,
}

/// z.object({})
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Empty {}

/// z.object({ xs: z.array(z.number()).length(3) })
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Fixed {
    xs: [f64; 3],
}

#[test]
fn the_rest_of_the_subset_matches_zod() {
    let cases = [
        (
            schema_text::<Paint>(),
            r##"{"type":"object","properties":{"color":{"type":"string","enum":["red","green"]}},"required":["color"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Record>(),
            r##"{"type":"object","properties":{"m":{"type":"object","additionalProperties":{"type":"number"}}},"required":["m"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Set>(),
            r##"{"type":"object","properties":{"s":{"type":"array","uniqueItems":true,"items":{"type":"string"}}},"required":["s"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Anything>(),
            r##"{"type":"object","properties":{"v":{"type":"array"},"w":{}},"required":["v"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Defaulted>(),
            r##"{"type":"object","properties":{"n":{"type":"integer","minimum":0,"default":3}},"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Byte>(),
            r##"{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":255}},"required":["n"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Empty>(),
            r##"{"type":"object","properties":{},"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<Fixed>(),
            r##"{"type":"object","properties":{"xs":{"type":"array","items":{"type":"number"},"minItems":3,"maxItems":3}},"required":["xs"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<String>(),
            r##"{"type":"string","$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
        (
            schema_text::<()>(),
            r##"{"type":"null","$schema":"http://json-schema.org/draft-07/schema#"}"##,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got.unwrap(), want);
    }
}

// --- outside the subset: rejected, never hashed approximately ---

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Pair {
    p: (f64, String),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
enum Shape {
    Circle { r: f64 },
    Square { side: f64 },
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Tree {
    children: Vec<Tree>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct WithUuidLike {
    addr: std::net::Ipv4Addr,
}

#[test]
fn shapes_outside_the_subset_fail_loudly() {
    let err = schema_text::<Pair>().unwrap_err();
    assert!(err.to_string().contains("tuples"), "{err}");
    assert_eq!(err.path, "/properties/p");
    assert!(err.type_name.ends_with("Pair"), "{err:?}");

    let err = schema_text::<Shape>().unwrap_err();
    assert!(err.to_string().contains("unions"), "{err}");

    let err = schema_text::<Tree>().unwrap_err();
    assert!(
        err.to_string().contains("recursive") || err.to_string().contains("unresolvable"),
        "{err}"
    );

    let err = schema_text::<WithUuidLike>().unwrap_err();
    assert!(err.to_string().contains("format"), "{err}");
}
