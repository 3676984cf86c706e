use serde_json::json;

use super::*;

fn reason(text: &str) -> InvalidReason {
    match Envelope::parse(text) {
        Err(ProtocolError::Invalid(e)) => e.reason,
        other => panic!("expected invalid request for {text}, got {other:?}"),
    }
}

#[test]
fn step1_batch_rejected_whole() {
    assert_eq!(reason("[]"), InvalidReason::Batch);
    assert_eq!(
        reason(r#"[{"jsonrpc":"2.0","method":"a.b","id":1}]"#),
        InvalidReason::Batch
    );
}

#[test]
fn step2_not_an_object() {
    for text in ["null", "1", "\"x\"", "true"] {
        assert_eq!(reason(text), InvalidReason::NotAnObject, "{text}");
    }
}

#[test]
fn step3_jsonrpc_version() {
    for text in [
        r#"{"method":"a.b"}"#,
        r#"{"jsonrpc":"1.0","method":"a.b"}"#,
        r#"{"jsonrpc":2.0,"method":"a.b"}"#,
    ] {
        assert_eq!(reason(text), InvalidReason::JsonRpcVersion, "{text}");
    }
}

#[test]
fn step4_method_shape_and_segments() {
    let cases = [
        ("arith", InvalidReason::MethodShape),
        (".add", InvalidReason::MethodShape),
        ("arith.", InvalidReason::MethodShape),
        ("Arith.add", InvalidReason::ServiceSegment),
        ("ar_ith.add", InvalidReason::ServiceSegment),
        ("arith\n.add", InvalidReason::ServiceSegment),
        ("arith.Add", InvalidReason::MethodSegment),
        ("arith.slow-add", InvalidReason::MethodSegment),
        ("arith.a.b", InvalidReason::MethodSegment),
    ];
    for (method, want) in cases {
        let text = json!({"jsonrpc":"2.0","method":method,"id":1}).to_string();
        assert_eq!(reason(&text), want, "{method:?}");
    }
}

#[test]
fn step4_id_types() {
    for id in [json!(true), json!(1.5), json!({}), json!([1])] {
        let text = json!({"jsonrpc":"2.0","method":"a.b","id":id}).to_string();
        assert_eq!(reason(&text), InvalidReason::IdType, "{id}");
    }
    let req = Envelope::parse(r#"{"jsonrpc":"2.0","method":"a.b","id":7}"#).unwrap();
    assert!(
        matches!(req, Envelope::Request(Request { id: Id::Number(ref n), .. }) if n.as_i64() == Some(7))
    );
    let req = Envelope::parse(r#"{"jsonrpc":"2.0","method":"a.b","id":"x"}"#).unwrap();
    assert!(matches!(req, Envelope::Request(Request { id: Id::String(ref s), .. }) if s == "x"));
}

#[test]
fn step4_null_or_missing_id_is_notification() {
    for text in [
        r#"{"jsonrpc":"2.0","method":"a.b","id":null,"params":{"x":1}}"#,
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"x":1}}"#,
    ] {
        let env = Envelope::parse(text).unwrap();
        assert_eq!(
            env,
            Envelope::Notification(Notification {
                service: "a".into(),
                method: "b".into(),
                params: json!({"x":1})
            })
        );
    }
}

#[test]
fn step4_method_wins_over_result_and_error() {
    let env = Envelope::parse(r#"{"jsonrpc":"2.0","method":"a.b","id":1,"result":1,"error":{}}"#)
        .unwrap();
    assert_eq!(env.kind(), "request");
}

#[test]
fn step4_params_default_and_null_kept() {
    let Envelope::Request(r) =
        Envelope::parse(r#"{"jsonrpc":"2.0","method":"a.b","id":1}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.params, json!({}));
    let Envelope::Request(r) =
        Envelope::parse(r#"{"jsonrpc":"2.0","method":"a.b","id":1,"params":null}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.params, Value::Null);
}

#[test]
fn step5_success_needs_id_of_any_type() {
    assert_eq!(
        reason(r#"{"jsonrpc":"2.0","result":1}"#),
        InvalidReason::ResponseId
    );
    assert_eq!(
        reason(r#"{"jsonrpc":"2.0","result":1,"id":null}"#),
        InvalidReason::ResponseId
    );
    let env = Envelope::parse(r#"{"jsonrpc":"2.0","result":null,"id":true}"#).unwrap();
    assert_eq!(
        env,
        Envelope::Response(Response {
            id: json!(true),
            outcome: Ok(Value::Null)
        })
    );
}

#[test]
fn step6_error_shape() {
    for error in [
        json!(1),
        json!({"code":"x","message":"m"}),
        json!({"code":1}),
        json!({"message":"m"}),
        json!({"code":1.5,"message":"m"}),
        json!({"code":1,"message":2}),
    ] {
        let text = json!({"jsonrpc":"2.0","id":1,"error":error}).to_string();
        assert_eq!(reason(&text), InvalidReason::ErrorShape, "{error}");
    }
    let env =
        Envelope::parse(r#"{"jsonrpc":"2.0","error":{"code":-32000.0,"message":"m"}}"#).unwrap();
    assert_eq!(
        env,
        Envelope::Response(Response {
            id: Value::Null,
            outcome: Err(RpcError::new(-32000, "m"))
        })
    );
}

#[test]
fn step7_unknown_kind() {
    for text in [
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}"#,
        r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
    ] {
        assert_eq!(reason(text), InvalidReason::UnknownKind, "{text}");
    }
}

#[test]
fn invalid_json_is_not_an_invalid_request() {
    assert!(matches!(Envelope::parse("{"), Err(ProtocolError::Json(_))));
}

#[test]
fn reason_texts_match_the_peers() {
    let text = InvalidRequest::from(InvalidReason::JsonRpcVersion).to_string();
    assert_eq!(text, "-32600 Invalid Request: jsonrpc must equal \"2.0\"");
    assert_eq!(
        InvalidRequest::from(InvalidReason::MethodShape).to_string(),
        "-32600 Invalid Request: method must be \"<service>.<method>\""
    );
}

#[test]
fn writes_compact_json_in_peer_key_order() {
    let req = Envelope::Request(Request {
        id: "6f1c".into(),
        service: "arith".into(),
        method: "add".into(),
        params: json!({"a":2,"b":3}),
    });
    assert_eq!(
        req.to_json(),
        r#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":2,"b":3},"id":"6f1c"}"#
    );
    let note = Envelope::Notification(Notification {
        service: "n".into(),
        method: "ping".into(),
        params: json!({}),
    });
    assert_eq!(
        note.to_json(),
        r#"{"jsonrpc":"2.0","method":"n.ping","params":{}}"#
    );
    let ok = Envelope::Response(Response {
        id: json!("i"),
        outcome: Ok(json!({"sum":5})),
    });
    assert_eq!(
        ok.to_json(),
        r#"{"jsonrpc":"2.0","id":"i","result":{"sum":5}}"#
    );
    let err = Envelope::Response(Response {
        id: json!(3),
        outcome: Err(RpcError::method_not_found()),
    });
    assert_eq!(
        err.to_json(),
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found","data":null}}"#
    );
}

#[test]
fn round_trips_unicode_and_reads_python_spacing() {
    let text = "{\"jsonrpc\": \"2.0\", \"method\": \"arith.echoText\", \"params\": {\"text\": \"\\u00e9\\ud83d\\ude00\"}, \"id\": \"x\"}";
    let Envelope::Request(r) = Envelope::parse(text).unwrap() else {
        panic!()
    };
    assert_eq!(r.params, json!({"text":"é😀"}));
    let back = Envelope::Request(r).to_json();
    assert!(
        back.contains("é😀"),
        "compact UTF-8, not ASCII-escaped: {back}"
    );
}

#[test]
fn ids_key_like_the_peers() {
    assert_eq!(Id::from(7).key(), "7");
    assert_eq!(Id::from("abc").key(), "abc");
    assert_eq!(value_key(&json!(7)), "7");
    let uuid = Id::new_uuid().to_string();
    assert_eq!(uuid.len(), 36);
    assert_eq!(uuid, uuid.to_lowercase());
}

#[test]
fn lone_surrogate_escapes_are_read_as_replacement_characters() {
    for (escape, desc) in [(r"\ud800", "high"), (r"\uDFFF", "low, upper case")] {
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"arith.echoText","params":{{"text":"a{escape}b"}},"id":"s1"}}"#
        );
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "serde_json alone refuses {desc}"
        );
        match Envelope::parse(&text) {
            Ok(Envelope::Request(r)) => {
                assert_eq!(r.params, json!({"text": "a\u{FFFD}b"}), "{desc}");
                assert_eq!(r.id, Id::from("s1"));
            }
            other => panic!("{desc}: expected a request, got {other:?}"),
        }
    }
}

#[test]
fn the_rewrite_touches_only_unpaired_surrogate_escapes_inside_strings() {
    let cases = [
        (r#""a\ud800b""#, Some(r#""a\ufffdb""#)),
        (r#""\uDBFF""#, Some(r#""\ufffd""#)),
        (r#""\udc00""#, Some(r#""\ufffd""#)),
        // A valid pair stays, wherever a lone one is next to it.
        (r#""\ud83d\ude00""#, None),
        (r#""\ud83d\ude00\ud800""#, Some(r#""\ud83d\ude00\ufffd""#)),
        (r#""\ud800\ud83d\ude00""#, Some(r#""\ufffd\ud83d\ude00""#)),
        // Low before high is no pair: both go.
        (r#""\ude00\ud83d""#, Some(r#""\ufffd\ufffd""#)),
        // A high surrogate followed by a non-surrogate escape.
        (r#""\ud800\u0041""#, Some(r#""\ufffd\u0041""#)),
        // An escaped backslash makes the rest text; an odd one leaves a real escape.
        (r#""\\ud800""#, None),
        (r#""\\\ud800""#, Some(r#""\\\ufffd""#)),
        (r#""\"\ud800""#, Some(r#""\"\ufffd""#)),
        // Keys are strings too; non-ASCII neighbours survive byte for byte.
        (
            r#"{"\ud800":"é\udfff日"}"#,
            Some(r#"{"\ufffd":"é\ufffd日"}"#),
        ),
        // Outside a string, or truncated: nothing to rewrite (the parse error stands).
        (r#"[\ud800]"#, None),
        (r#""\ud80""#, None),
        (r#""x" "\ud800""#, Some(r#""x" "\ufffd""#)),
    ];
    for (text, want) in cases {
        assert_eq!(
            replace_lone_surrogates(text).as_deref(),
            want,
            "rewrite of {text}"
        );
    }
}

#[test]
fn lenient_value_parsing_matches_the_envelope_parser() {
    assert_eq!(
        parse_value_lenient(r#"{"id":"\ud800x","t":"\\ud800"}"#).unwrap(),
        json!({"id": "\u{FFFD}x", "t": "\\ud800"})
    );
    assert_eq!(
        parse_value_lenient(r#"{"ok":"\ud83d\ude00"}"#).unwrap(),
        json!({"ok": "😀"})
    );
    // Still JSON errors: none to rewrite, and one that remains after the rewrite.
    let plain = parse_value_lenient(r#"{"a":"#).unwrap_err();
    assert!(plain.is_eof(), "{plain}");
    let after = parse_value_lenient(r#"{"a":"\ud800",}"#).unwrap_err();
    assert!(after.is_syntax(), "{after}");
    assert_eq!(
        after.column(),
        15,
        "offsets point into the original text: {after}"
    );
}

fn out_of_range(text: &str) -> Option<(String, String)> {
    match Envelope::parse(text) {
        Err(ProtocolError::IntegerOutOfRange { literal, at }) => Some((literal, at)),
        _ => None,
    }
}

#[test]
fn integers_beyond_64_bits_are_refused_never_rounded() {
    let text = r#"{"jsonrpc":"2.0","method":"a.b","params":{"n":100000000000000000000},"id":"c1"}"#;
    assert_eq!(
        out_of_range(text),
        Some(("100000000000000000000".into(), "params.n".into()))
    );
    let nested = r#"{"jsonrpc":"2.0","id":"c1","result":{"xs":[1,"12345678901234567890123",{"big":-9223372036854775809}]}}"#;
    assert_eq!(
        out_of_range(nested),
        Some(("-9223372036854775809".into(), "result.xs[2].big".into()))
    );
    let id = r#"{"jsonrpc":"2.0","method":"a.b","id":18446744073709551616}"#;
    assert_eq!(
        out_of_range(id),
        Some(("18446744073709551616".into(), "id".into()))
    );
}

#[test]
fn integers_at_the_64_bit_edges_pass_exactly() {
    let text = r#"{"jsonrpc":"2.0","method":"a.b","params":{"max":18446744073709551615,"min":-9223372036854775808,"ns":1700000000000000000},"id":"c1"}"#;
    let Ok(Envelope::Request(r)) = Envelope::parse(text) else {
        panic!("refused")
    };
    assert_eq!(r.params["max"].as_u64(), Some(u64::MAX));
    assert_eq!(r.params["min"].as_i64(), Some(i64::MIN));
    assert_eq!(
        Envelope::Request(r).to_json(),
        text,
        "written back byte for byte"
    );
}

#[test]
fn big_floats_and_digit_strings_are_not_integers() {
    for text in [
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"f":100000000000000000000.0}}"#,
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"f":1e20,"g":100000000000000000000e0}}"#,
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"s":"100000000000000000000"}}"#,
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"s\"100000000000000000000":"x\\"}}"#,
    ] {
        assert!(Envelope::parse(text).is_ok(), "{text}");
    }
}

#[test]
fn an_invalid_envelope_keeps_its_reason_over_a_big_integer() {
    let text = r#"{"jsonrpc":"1.0","method":"a.b","params":{"n":100000000000000000000}}"#;
    assert!(matches!(
        Envelope::parse(text),
        Err(ProtocolError::Invalid(_))
    ));
}

#[test]
fn a_request_with_a_big_integer_param_can_still_be_answered() {
    let text =
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"xs":[1,100000000000000000000]},"id":"c1"}"#;
    let err = Envelope::parse(text).unwrap_err();
    let response = Envelope::refusal(text, &err).expect("an answer");
    assert_eq!(response.id, serde_json::json!("c1"));
    let rpc = response.outcome.unwrap_err();
    assert_eq!((rpc.code, rpc.message.as_str()), (-32602, "Invalid params"));
    let entry = &rpc.data["errors"][0];
    assert_eq!(entry["type"], "integer_out_of_range");
    assert_eq!(entry["loc"], serde_json::json!(["xs", 1]));
    assert_eq!(entry["input"], "100000000000000000000");
    assert!(
        entry["msg"].as_str().unwrap().contains("params.xs[1]"),
        "{entry}"
    );
}

#[test]
fn other_refusals_stay_unanswered() {
    for text in [
        // A notification is never answered.
        r#"{"jsonrpc":"2.0","method":"a.b","params":{"n":100000000000000000000}}"#,
        // No id to answer with.
        r#"{"jsonrpc":"2.0","method":"a.b","params":{},"id":100000000000000000000}"#,
        // A big integer in a reply is the client's to refuse.
        r#"{"jsonrpc":"2.0","id":"c1","result":100000000000000000000}"#,
        // Not an envelope at all.
        r#"{"jsonrpc":"2.0","method":"a.b","id":[1]}"#,
        "{",
    ] {
        let err = Envelope::parse(text).unwrap_err();
        assert!(Envelope::refusal(text, &err).is_none(), "{text}");
    }
}
