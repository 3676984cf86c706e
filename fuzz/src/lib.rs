//! The checks behind the fuzz targets, in a library so every target (and a reproduction run
//! of an artifact) uses the same code. Each `check_*` panics when an invariant fails; libFuzzer
//! reports that as a crash.

use clamator_protocol::envelope::value_key;
use clamator_protocol::{Envelope, Id, ProtocolError, Response, RpcError};
use serde_json::Value;

pub mod dispatch;
pub mod resp;
pub mod stream;

pub use dispatch::check_dispatch;
pub use stream::check_stream_entry;

/// Equal JSON, with floats compared to a few ULPs: serde_json's default float parser is only
/// "best effort" (1 ULP off at times without its `float_roundtrip` feature), so a float may move
/// by an ULP through a write/read round trip. That is the JSON library, not clamator.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || ((x - y).abs() <= x.abs().max(y.abs()) * 4.0 * f64::EPSILON)
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        _ => a == b,
    }
}

fn same_error(a: &RpcError, b: &RpcError) -> bool {
    a.code == b.code && a.message == b.message && same_json(&a.data, &b.data)
}

/// Same classification and same content (floats to a few ULPs).
pub fn same_envelope(a: &Envelope, b: &Envelope) -> bool {
    match (a, b) {
        (Envelope::Request(x), Envelope::Request(y)) => {
            x.id == y.id
                && x.service == y.service
                && x.method == y.method
                && same_json(&x.params, &y.params)
        }
        (Envelope::Notification(x), Envelope::Notification(y)) => {
            x.service == y.service && x.method == y.method && same_json(&x.params, &y.params)
        }
        (Envelope::Response(x), Envelope::Response(y)) => {
            same_json(&x.id, &y.id)
                && match (&x.outcome, &y.outcome) {
                    (Ok(r), Ok(s)) => same_json(r, s),
                    (Err(e), Err(f)) => same_error(e, f),
                    _ => false,
                }
        }
        _ => false,
    }
}

/// The envelope's written form parses back to the same envelope, with the same key order
/// prefix, and writing that again is a fixed point (modulo floats).
pub fn check_round_trip(env: &Envelope) {
    let json = env.to_json();
    assert!(
        json.starts_with(r#"{"jsonrpc":"2.0","#),
        "written form starts elsewhere: {json}"
    );
    let back = Envelope::parse(&json).unwrap_or_else(|e| panic!("re-parse of {json}: {e}"));
    assert_eq!(back.kind(), env.kind(), "kind changed through {json}");
    assert!(
        same_envelope(env, &back),
        "round trip changed the envelope:\n{env:?}\n{json}\n{back:?}"
    );
    let again = back.to_json();
    let (a, b): (Value, Value) = (
        serde_json::from_str(&json).unwrap(),
        serde_json::from_str(&again).unwrap(),
    );
    assert!(same_json(&a, &b), "not a fixed point: {json} vs {again}");
    if let Envelope::Response(r) = env {
        if !r.id.is_f64() {
            let Envelope::Response(s) = &back else {
                unreachable!()
            };
            assert_eq!(r.key(), s.key(), "response key changed through {json}");
        }
    }
}

/// Target `envelope`: arbitrary bytes through the text classifier and the value classifier.
pub fn check_envelope(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Never valid JSON text either (serde_json checks UTF-8 of the whole input).
        assert!(serde_json::from_slice::<Value>(data).is_err());
        return;
    };
    let parsed = Envelope::parse(text);
    match (&parsed, serde_json::from_str::<Value>(text)) {
        (Ok(env), Ok(value)) => {
            let again = Envelope::from_value(value).expect("parse accepted, from_value refused");
            assert_eq!(&again, env, "parse and from_value disagree");
        }
        (Err(ProtocolError::IntegerOutOfRange { literal, .. }), Ok(_)) => {
            // Refused on purpose: an integer no `Value` holds exactly (it is in the text).
            assert!(text.contains(literal.as_str()), "{literal} is not in {text}");
        }
        (Err(e), Ok(value)) => {
            let again = Envelope::from_value(value.clone());
            let again = again.expect_err("parse refused, from_value accepted");
            assert!(
                e.to_string().contains(&again.to_string()),
                "different reasons: {e} / {again}"
            );
        }
        (Err(e), Err(_)) => {
            let _ = e.to_string();
        }
        (Ok(env), Err(e)) => panic!("parse accepted {env:?}, serde_json refused: {e}"),
    }
    let Ok(env) = parsed else { return };
    match &env {
        Envelope::Request(r) => {
            assert!(!matches!(&r.id, Id::Number(n) if n.is_f64()), "float id");
            let _ = (r.id.key(), r.id.to_string());
        }
        Envelope::Response(r) => {
            let _ = r.key();
            if r.outcome.is_ok() {
                assert!(!r.id.is_null(), "success without id");
            }
        }
        Envelope::Notification(_) => {}
    }
    check_round_trip(&env);
}

/// The raw `id` the client keys a malformed or unexpected reply by (`raw_id_key` in
/// `over-redis/src/client/reply_reader.rs`, which is private to the client; mirrored here).
pub fn raw_id_key(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let id = value.get("id")?;
    (!id.is_null()).then(|| value_key(id).into_owned())
}

/// What the client's reply loop makes of one reply entry's `envelope` field.
#[derive(Debug, PartialEq)]
pub enum ReplyOutcome {
    /// Not UTF-8, or no id to route an error to: dropped.
    Skipped,
    /// Delivered to the call keyed `key`: a response, or an error for that call.
    Delivered { key: String, ok: bool },
}

/// Mirrors `deliver` in the client's reply loop.
pub fn classify_reply(field: &[u8]) -> ReplyOutcome {
    let Ok(text) = std::str::from_utf8(field) else {
        return ReplyOutcome::Skipped;
    };
    match Envelope::parse(text) {
        Ok(Envelope::Response(r)) => ReplyOutcome::Delivered {
            key: r.key().into_owned(),
            ok: true,
        },
        Ok(other) => {
            let _ = other.kind();
            match raw_id_key(text) {
                Some(key) => ReplyOutcome::Delivered { key, ok: false },
                None => ReplyOutcome::Skipped,
            }
        }
        Err(e) => {
            let _ = e.to_string();
            match raw_id_key(text) {
                Some(key) => ReplyOutcome::Delivered { key, ok: false },
                None => ReplyOutcome::Skipped,
            }
        }
    }
}

/// Target `reply`: one reply entry's `envelope` bytes. The bytes are also carried through a
/// real `XREAD` reply (RESP2 and RESP3) and the entry decoder, which must hand them back intact.
pub fn check_reply(field: &[u8]) {
    let outcome = classify_reply(field);
    if let Ok(text) = std::str::from_utf8(field) {
        match Envelope::parse(text) {
            Ok(Envelope::Response(r)) => {
                // A response is keyed by its own id; the raw id (when non-null) is the same key.
                if !r.id.is_null() {
                    assert_eq!(raw_id_key(text).as_deref(), Some(&*r.key()), "{text}");
                }
                check_round_trip(&Envelope::Response(r));
            }
            Ok(Envelope::Request(r)) => {
                // A request echoed onto a reply stream fails the call its id names.
                assert_eq!(
                    outcome,
                    ReplyOutcome::Delivered {
                        key: r.id.key().into_owned(),
                        ok: false
                    }
                );
            }
            Ok(Envelope::Notification(_)) => {
                assert!(matches!(
                    outcome,
                    ReplyOutcome::Skipped | ReplyOutcome::Delivered { ok: false, .. }
                ));
            }
            Err(_) => assert!(!matches!(outcome, ReplyOutcome::Delivered { ok: true, .. })),
        }
    }
    for resp3 in [false, true] {
        let wire = resp::xread_reply(resp3, b"app:replies:c1", "1-0", &[(b"envelope", field)]);
        let value = redis::parse_redis_value(&wire).expect("a well-formed XREAD reply");
        let (live, deleted) = clamator_over_redis::fuzzing::read_reply(&value);
        assert!(deleted.is_empty());
        assert_eq!(live.len(), 1, "{value:?}");
        assert_eq!(live[0].0, "1-0");
        assert_eq!(live[0].1, vec![(b"envelope".to_vec(), field.to_vec())]);
    }
}

/// A response must round-trip as a response with the same routing key.
pub fn check_response(r: &Response) {
    check_round_trip(&Envelope::Response(r.clone()));
}
