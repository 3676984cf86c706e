//! Target `dispatch`: command-stream envelope text through the server's path (`plan` in
//! over-redis's `server/handle.rs`: parse, drop responses and unparsable text) and a
//! dispatcher of a small service. Whatever comes back must be a valid response envelope for
//! the request's id, or nothing.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use clamator_protocol::{
    codes, Contract, Dispatcher, Envelope, InFlight, Method, MethodKind, NotificationMethod,
    RpcError, Service,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Serialize, Deserialize)]
struct AddParams {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sum {
    sum: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    text: String,
    count: Option<i64>,
    tags: Vec<String>,
    nested: Option<Box<Record>>,
    kind: Kind,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Plain,
    Fancy,
}

#[derive(Debug, Serialize, Deserialize)]
struct Relay {
    value: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct Tagged {
    tag: Option<String>,
}

const ADD: Method<AddParams, Sum> = Method::new("arith", "add");
const DIVIDE: Method<AddParams, Sum> = Method::new("arith", "divide");
const FAIL: Method<AddParams, Sum> = Method::new("arith", "fail");
const BAD_RESULT: Method<AddParams, BTreeMap<Vec<u8>, u8>> = Method::new("arith", "badResult");
const UNHANDLED: Method<AddParams, Sum> = Method::new("arith", "unhandled");
const ECHO: Method<Record, Record> = Method::new("arith", "echo");
const RELAY: Method<Relay, Record> = Method::new("arith", "relay");
const ECHO_TAG: Method<Tagged, Tagged> = Method::new("arith", "echoTag");
const PING: NotificationMethod<Tagged> = NotificationMethod::new("arith", "ping");
const SILENT: NotificationMethod<Tagged> = NotificationMethod::new("arith", "silent");

#[derive(Debug)]
struct Kaput;

impl std::fmt::Display for Kaput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kaput")
    }
}

impl std::error::Error for Kaput {}

struct Harness {
    runtime: tokio::runtime::Runtime,
    dispatcher: Dispatcher,
    contract: Contract,
}

fn contract() -> Contract {
    Contract::builder("arith")
        .method(ADD)
        .method(DIVIDE)
        .method(FAIL)
        .method(BAD_RESULT)
        .method(UNHANDLED)
        .method(ECHO)
        .method(RELAY)
        .method(ECHO_TAG)
        .notification(PING)
        .notification(SILENT)
        .build()
        .expect("a valid contract")
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let service = Service::builder(contract())
            .handle(ADD, |p: AddParams| async move {
                Ok::<_, RpcError>(Sum { sum: p.a + p.b })
            })
            .handle(DIVIDE, |p: AddParams| async move {
                if p.b == 0.0 {
                    Err(RpcError::new(-32000, "division by zero").with_data(p.a.into()))
                } else {
                    Ok(Sum { sum: p.a / p.b })
                }
            })
            .handle(FAIL, |_p: AddParams| async move { Err::<Sum, _>(Kaput) })
            .handle(BAD_RESULT, |_p: AddParams| async move {
                Ok::<_, RpcError>(BTreeMap::from([(vec![1u8], 1u8)]))
            })
            .handle(ECHO, |p: Record| async move { Ok::<_, RpcError>(p) })
            .handle_json(RELAY, |p: Relay| async move { Ok::<_, RpcError>(p.value) })
            .handle(ECHO_TAG, |p: Tagged| async move { Ok::<_, RpcError>(p) })
            .on_notification(PING, |_p: Tagged| async move {})
            .build()
            .expect("a valid service");
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime"),
            dispatcher: Dispatcher::new(service, InFlight::default()),
            contract: contract(),
        }
    })
}

/// Target `dispatch`.
pub fn check_dispatch(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // "envelope is not UTF-8": dropped
    };
    let Ok(envelope) = Envelope::parse(text) else {
        return; // poison envelope: dropped
    };
    let h = harness();
    // What the dispatcher must answer: requests to request methods (known or not).
    let expect = match &envelope {
        Envelope::Request(r) => match h.contract.method(&r.method) {
            Some(def) if def.kind() == MethodKind::Notification => None,
            def => Some((r.id.clone(), r.method.to_string(), def.is_some())),
        },
        _ => None,
    };
    let response = h.runtime.block_on(h.dispatcher.dispatch(envelope));
    let Some((id, method, known)) = expect else {
        assert!(response.is_none(), "answered: {response:?} to {text}");
        return;
    };
    let response = response.unwrap_or_else(|| panic!("no response to {text}"));
    assert_eq!(
        response.id,
        Value::from(id.clone()),
        "id not echoed for {text}"
    );
    assert_eq!(response.key(), id.key());
    match &response.outcome {
        Ok(_) => assert!(
            matches!(&*method, "add" | "divide" | "echo" | "relay" | "echoTag"),
            "{method} succeeded"
        ),
        Err(e) => {
            let allowed: &[i64] = match &*method {
                _ if !known => &[codes::METHOD_NOT_FOUND],
                "unhandled" => &[codes::METHOD_NOT_FOUND, codes::INVALID_PARAMS],
                "divide" => &[-32000, codes::INVALID_PARAMS, codes::INTERNAL_ERROR],
                _ => &[codes::INVALID_PARAMS, codes::INTERNAL_ERROR],
            };
            assert!(allowed.contains(&e.code), "{method}: {e:?} for {text}");
        }
    }
    if method == "badResult" {
        // Never valid: the params are invalid, or the result is.
        assert!(response.outcome.is_err());
    }
    crate::check_response(&response);
}
