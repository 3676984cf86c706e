//! Serialize values with `Option::None` struct fields left out instead of written as `null`.
//!
//! Our JSON-RPC peers written in TypeScript validate with zod, whose `.optional()` accepts a
//! missing key but rejects `null`. So when user params and results are serialized, a struct field
//! holding `None` must be omitted. Every other `null` is kept: a `serde_json::Value::Null` goes
//! through `serialize_unit` while `None` goes through `serialize_none`, so the two can be told apart.
//!
//! Only *struct fields* are dropped, meaning the named fields of structs and of struct variants.
//! Map entries (for example in `HashMap<String, Option<T>>`) keep `None` as `null`. The rule
//! applies at every depth: structs nested in structs, in `Vec`s and arrays, in tuples, in map
//! values, in `Option<Struct>`, and in newtype, tuple and struct enum variants.
//!
//! Edge cases:
//! - `Some(None)` in an `Option<Option<T>>` field is kept as `null`, because the outer `Some` is
//!   there. A newtype struct around `None` (`struct W(Option<i32>)`) is also kept as `null`,
//!   because the field itself is not `None` and dropping the key would stop it deserializing.
//!   `#[serde(transparent)]` wrappers serialize as their inner value, so they are dropped.
//! - `#[serde(flatten)]` makes serde write the containing struct as a map (`serialize_entry`),
//!   which cannot be told apart from a real map, so that struct and its flattened parts keep
//!   `None` fields as `null`; use `#[serde(skip_serializing_if = "Option::is_none")]` there.

use serde::ser::{
    Impossible, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant,
    SerializeTuple, SerializeTupleStruct, SerializeTupleVariant,
};
use serde::{Serialize, Serializer};
use std::fmt::{self, Display};

/// Wraps a value so that serializing it with ANY serde Serializer omits None-valued struct fields, recursively.
pub struct OmitNone<'a, T: ?Sized>(pub &'a T);

/// Lets `OmitNone` work with any serde `Serializer` (JSON text, `Value`, or others).
impl<T: Serialize + ?Sized> Serialize for OmitNone<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(OmitNoneSerializer(serializer))
    }
}

/// Convenience: serialize to serde_json::Value omitting None struct fields.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(OmitNone(value))
}

/// Passes every call to `S`, wrapping nested values in `OmitNone` so the rule applies at every depth.
struct OmitNoneSerializer<S>(S);

/// Wraps one of `S`'s compound serializers and wraps every element passed through it.
struct Compound<C>(C);

/// Writes out `Serializer` methods that call `S`, wrapping `<T> value` and compound results.
macro_rules! delegate {
    ($($method:ident($($arg:ident: $ty:ty),*) $(<$g:ident> $val:ident)? -> $ret:ty $(, $wrap:ident)?;)*) => {
        $(fn $method$(<$g: Serialize + ?Sized>)?(self, $($arg: $ty,)* $($val: &$g)?) -> Result<$ret, S::Error> {
            self.0.$method($($arg,)* $(&OmitNone($val))?)$(.map($wrap))?
        })*
    };
}

impl<S: Serializer> Serializer for OmitNoneSerializer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    delegate! {
        serialize_bool(v: bool) -> S::Ok; serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok; serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok; serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok; serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok; serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok; serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok; serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok; serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
        serialize_some() <T> value -> S::Ok;
        serialize_newtype_struct(name: &'static str) <T> value -> S::Ok;
        serialize_newtype_variant(name: &'static str, index: u32, variant: &'static str) <T> value -> S::Ok;
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq, Compound;
        serialize_tuple(len: usize) -> Self::SerializeTuple, Compound;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct, Compound;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize)
            -> Self::SerializeTupleVariant, Compound;
        serialize_map(len: Option<usize>) -> Self::SerializeMap, Compound;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct, Compound;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize)
            -> Self::SerializeStructVariant, Compound;
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(serde::ser::Error::custom(format_args!(
                "{v} is not a JSON number"
            )));
        }
        self.0.serialize_f32(v)
    }

    /// JSON has no NaN or infinity; serde_json would quietly write `null` where the contract
    /// promises a number. Refuse instead, so the caller sees a clear error.
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if !v.is_finite() {
            return Err(serde::ser::Error::custom(format_args!(
                "{v} is not a JSON number"
            )));
        }
        self.0.serialize_f64(v)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// Writes out compound-serializer impls whose methods wrap every value (and key) in `OmitNone`.
macro_rules! compound {
    ($($trait:ident { $($method:ident<$($g:ident $val:ident),+>;)+ })*) => {
        $(impl<C: $trait> $trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            $(fn $method<$($g: Serialize + ?Sized),+>(&mut self, $($val: &$g),+) -> Result<(), C::Error> {
                self.0.$method($(&OmitNone($val)),+)
            })+
            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        })*
    };
}

compound! {
    SerializeSeq { serialize_element<T value>; }
    SerializeTuple { serialize_element<T value>; }
    SerializeTupleStruct { serialize_field<T value>; }
    SerializeTupleVariant { serialize_field<T value>; }
    SerializeMap { serialize_key<T key>; serialize_value<T value>; serialize_entry<K key, V value>; }
}

/// Writes out the struct-like impls, which drop a field that is `None` instead of writing it.
macro_rules! struct_like {
    ($($trait:ident),*) => {
        $(impl<C: $trait> $trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                if is_none(value) {
                    self.0.skip_field(key)
                } else {
                    self.0.serialize_field(key, &OmitNone(value))
                }
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.0.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.0.end()
            }
        })*
    };
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// Tells whether `value` is `None`; an error means "no", so the real pass reports it.
fn is_none<T: Serialize + ?Sized>(value: &T) -> bool {
    matches!(value.serialize(IsNone), Ok(true))
}

/// Probe serializer: only `serialize_none` answers `true`. It never looks inside a value, and
/// compound values stop at once with the allocation-free `fmt::Error`, so a check costs one call.
struct IsNone;

/// Writes out probe methods that answer `Ok(false)` or `Err(fmt::Error)` without looking inside.
macro_rules! probe {
    ($ret:expr => $($method:ident $(<$g:ident>)?($($ty:ty),*) -> $ok:ty;)*) => {
        $(fn $method$(<$g: Serialize + ?Sized>)?(self, $(_: $ty),*) -> Result<$ok, fmt::Error> { $ret })*
    };
}

impl Serializer for IsNone {
    type Ok = bool;
    type Error = fmt::Error;
    type SerializeSeq = Impossible<bool, fmt::Error>;
    type SerializeTuple = Impossible<bool, fmt::Error>;
    type SerializeTupleStruct = Impossible<bool, fmt::Error>;
    type SerializeTupleVariant = Impossible<bool, fmt::Error>;
    type SerializeMap = Impossible<bool, fmt::Error>;
    type SerializeStruct = Impossible<bool, fmt::Error>;
    type SerializeStructVariant = Impossible<bool, fmt::Error>;

    probe! { Ok(true) => serialize_none() -> bool; }

    probe! { Ok(false) =>
        serialize_bool(bool) -> bool; serialize_i8(i8) -> bool; serialize_i16(i16) -> bool;
        serialize_i32(i32) -> bool; serialize_i64(i64) -> bool; serialize_i128(i128) -> bool;
        serialize_u8(u8) -> bool; serialize_u16(u16) -> bool; serialize_u32(u32) -> bool;
        serialize_u64(u64) -> bool; serialize_u128(u128) -> bool; serialize_f32(f32) -> bool;
        serialize_f64(f64) -> bool; serialize_char(char) -> bool; serialize_str(&str) -> bool;
        serialize_bytes(&[u8]) -> bool; serialize_unit() -> bool;
        serialize_unit_struct(&'static str) -> bool;
        serialize_unit_variant(&'static str, u32, &'static str) -> bool;
        serialize_some<T>(&T) -> bool;
        serialize_newtype_struct<T>(&'static str, &T) -> bool;
        serialize_newtype_variant<T>(&'static str, u32, &'static str, &T) -> bool;
    }

    probe! { Err(fmt::Error) =>
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn collect_str<T: Display + ?Sized>(self, _: &T) -> Result<bool, fmt::Error> {
        Ok(false) // the default would build the whole string first
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_finite_floats_are_refused_not_nulled() {
        let err = super::to_value(&[1.0, f64::INFINITY]).unwrap_err();
        assert!(
            err.to_string().contains("inf is not a JSON number"),
            "{err}"
        );
        assert!(super::to_value(&f32::NAN).is_err());
        assert_eq!(super::to_value(&1.5f32).unwrap(), serde_json::json!(1.5));
    }

    use super::*;
    use serde_json::{json, Value};
    use std::collections::HashMap;

    #[derive(Serialize)]
    struct Inner {
        a: Option<i32>,
        b: Value,
    }

    fn inner(a: Option<i32>, b: Value) -> Inner {
        Inner { a, b }
    }

    fn one() -> Inner {
        inner(None, json!(1))
    }

    #[derive(Serialize)]
    struct Newtype(Option<i32>);

    #[derive(Serialize)]
    #[serde(transparent)]
    struct Transparent(Option<i32>);

    #[derive(Serialize)]
    struct Outer {
        none: Option<i32>,
        some: Option<i32>,
        null: Value,
        twice: Option<Option<i32>>,
        newtype: Newtype,
        transparent: Transparent,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<i32>,
        list: Vec<Inner>,
        opt: Option<Inner>,
        tuple: (Inner, u8),
        map: HashMap<String, Inner>,
    }

    #[test]
    fn omits_none_struct_fields_at_every_depth_and_keeps_other_nulls() {
        let outer = Outer {
            none: None,
            some: Some(1),
            null: Value::Null,
            twice: Some(None), // the outer `Some` is present, so the field is kept as null
            newtype: Newtype(None),
            transparent: Transparent(None),
            skipped: None,
            list: vec![one(), inner(Some(2), Value::Null)],
            opt: Some(one()),
            tuple: (one(), 4),
            map: HashMap::from([("k".to_owned(), one())]),
        };
        let expected = json!({
            "some": 1, "null": null, "twice": null, "newtype": null,
            "list": [{"b": 1}, {"a": 2, "b": null}],
            "opt": {"b": 1}, "tuple": [{"b": 1}, 4], "map": {"k": {"b": 1}},
        });
        assert_eq!(to_value(&outer).unwrap(), expected);
        let text = serde_json::to_string(&OmitNone(&outer)).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        // Exact text equality needs keys already sorted, because `Value` maps sort them.
        let v = (vec![one()], HashMap::from([("k", Some(one()))]));
        let text = serde_json::to_string(&OmitNone(&v)).unwrap();
        assert_eq!(text, r#"[[{"b":1}],{"k":{"b":1}}]"#);
        assert_eq!(text, serde_json::to_string(&to_value(&v).unwrap()).unwrap());
    }

    #[test]
    fn maps_sequences_and_top_level_keep_none_as_null() {
        let map = HashMap::from([("k".to_owned(), None::<i32>)]);
        assert_eq!(to_value(&map).unwrap(), json!({"k": null}));
        assert_eq!(to_value(&[None, Some(1)]).unwrap(), json!([null, 1]));
        assert_eq!(to_value(&None::<i32>).unwrap(), Value::Null);
    }

    #[derive(Serialize)]
    enum E {
        Struct { x: Option<i32>, y: Option<i32> },
        Newtype(Inner),
        Tuple(Inner, Option<i32>),
    }

    #[test]
    fn enum_variants() {
        let v = to_value(&E::Struct {
            x: None,
            y: Some(1),
        })
        .unwrap();
        assert_eq!(v, json!({"Struct": {"y": 1}}));
        let v = to_value(&E::Newtype(one())).unwrap();
        assert_eq!(v, json!({"Newtype": {"b": 1}}));
        let v = to_value(&E::Tuple(one(), None)).unwrap();
        assert_eq!(v, json!({"Tuple": [{"b": 1}, null]}));
    }

    #[derive(Serialize)]
    struct Flat {
        own: Option<i32>,
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn flatten_turns_the_struct_into_a_map_so_none_stays_null() {
        let inner = one();
        let v = to_value(&Flat { own: None, inner }).unwrap();
        assert_eq!(v, json!({"own": null, "a": null, "b": 1}));
    }

    struct Failing;

    impl Serialize for Failing {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("boom"))
        }
    }

    #[test]
    fn probe_is_shallow_and_does_not_swallow_errors() {
        assert!(is_none(&None::<Vec<i32>>) && !is_none(&Some(None::<i32>)));
        assert!(!is_none(&Value::Null) && !is_none(&Failing));
        assert!(matches!(vec![1].serialize(IsNone), Err(fmt::Error)));
        assert!(matches!(one().serialize(IsNone), Err(fmt::Error)));
        let err = to_value(&E::Tuple(one(), Some(1))).and(to_value(&[Failing]));
        assert!(err.unwrap_err().to_string().contains("boom"));
    }
}
