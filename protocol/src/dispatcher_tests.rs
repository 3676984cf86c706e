//! One test per row of spec §2.2, for requests and for notifications.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::*;
use crate::contract::{Contract, Method, NotificationMethod};
use crate::envelope::{Notification, Request};
use crate::error::codes;
use crate::handler::HandlerError;

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
struct Tagged {
    tag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("kaput")]
struct Kaput;

const ADD: Method<AddParams, Sum> = Method::new("arith", "add");
const DIVIDE: Method<AddParams, Sum> = Method::new("arith", "divide");
const FAIL: Method<AddParams, Sum> = Method::new("arith", "fail");
const PANIC: Method<AddParams, Sum> = Method::new("arith", "panic");
const PANIC_EARLY: Method<AddParams, Sum> = Method::new("arith", "panicEarly");
const BAD_RESULT: Method<AddParams, std::collections::BTreeMap<Vec<u8>, u8>> =
    Method::new("arith", "badResult");
const UNHANDLED: Method<AddParams, Sum> = Method::new("arith", "unhandled");
const ECHO_TAG: Method<Tagged, Tagged> = Method::new("arith", "echoTag");
const PING: NotificationMethod<Tagged> = NotificationMethod::new("arith", "ping");

struct Fixture {
    dispatcher: Dispatcher,
    pings: Arc<AtomicUsize>,
}

fn fixture() -> Fixture {
    let contract = Contract::builder("arith")
        .method(ADD)
        .method(DIVIDE)
        .method(FAIL)
        .method(PANIC)
        .method(PANIC_EARLY)
        .method(BAD_RESULT)
        .method(UNHANDLED)
        .method(ECHO_TAG)
        .notification(PING)
        .build()
        .unwrap();
    let pings = Arc::new(AtomicUsize::new(0));
    let counter = pings.clone();
    let service = Service::builder(contract)
        .handle(ADD, |p: AddParams| async move {
            Ok::<_, RpcError>(Sum { sum: p.a + p.b })
        })
        .handle(DIVIDE, |_p: AddParams| async move {
            Err::<Sum, _>(RpcError::new(-32000, "division by zero"))
        })
        .handle(FAIL, |_p: AddParams| async move { Err::<Sum, _>(Kaput) })
        .handle(PANIC, |_p: AddParams| async move {
            if true {
                panic!("handler blew up");
            }
            Ok::<Sum, HandlerError>(Sum { sum: 0.0 })
        })
        // Panics in the closure body, before a future exists.
        .handle(PANIC_EARLY, |p: AddParams| {
            if p.b == 0.0 {
                panic!("closure blew up");
            }
            async move { Ok::<_, RpcError>(Sum { sum: p.a }) }
        })
        .handle(BAD_RESULT, |_p: AddParams| async move {
            let mut m = std::collections::BTreeMap::new();
            m.insert(vec![1u8], 1u8);
            Ok::<_, RpcError>(m)
        })
        .handle(ECHO_TAG, |p: Tagged| async move { Ok::<_, RpcError>(p) })
        .on_notification(PING, move |_p: Tagged| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    Fixture {
        dispatcher: Dispatcher::new(service, InFlight::default()),
        pings,
    }
}

fn request(method: &'static str, params: Value) -> Envelope {
    Envelope::Request(Request {
        id: "r1".into(),
        service: "arith".into(),
        method: method.into(),
        params,
    })
}

fn notification(method: &'static str, params: Value) -> Envelope {
    Envelope::Notification(Notification {
        service: "arith".into(),
        method: method.into(),
        params,
    })
}

async fn error_of(method: &'static str, params: Value) -> RpcError {
    let response = fixture().dispatcher.dispatch(request(method, params)).await;
    let response = response.expect("a request gets a response");
    assert_eq!(response.id, json!("r1"));
    response.outcome.expect_err("expected an error response")
}

#[tokio::test]
async fn success_echoes_id_and_result() {
    let response = fixture()
        .dispatcher
        .dispatch(request("add", json!({"a":2,"b":3})))
        .await
        .unwrap();
    assert_eq!(
        Envelope::Response(response).to_json(),
        r#"{"jsonrpc":"2.0","id":"r1","result":{"sum":5.0}}"#
    );
}

#[tokio::test]
async fn response_envelopes_get_nothing() {
    let env = Envelope::Response(Response {
        id: json!(1),
        outcome: Ok(json!(1)),
    });
    assert!(fixture().dispatcher.dispatch(env).await.is_none());
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    assert_eq!(
        error_of("nope", json!({})).await,
        RpcError::method_not_found()
    );
}

#[tokio::test]
async fn routes_by_method_only_like_the_peers() {
    let env = Envelope::Request(Request {
        id: "r1".into(),
        service: "other".into(),
        method: "add".into(),
        params: json!({"a":1,"b":1}),
    });
    let response = fixture().dispatcher.dispatch(env).await.unwrap();
    assert_eq!(response.outcome, Ok(json!({"sum":2.0})));
}

#[tokio::test]
async fn invalid_params_with_python_shaped_data() {
    let err = error_of("add", json!({"a":"two","b":3})).await;
    assert_eq!(err.code, codes::INVALID_PARAMS);
    assert_eq!(err.message, "Invalid params");
    assert_eq!(err.data["errors"][0]["loc"], json!(["a"]));
    assert_eq!(err.data["errors"][0]["input"], json!("two"));
}

#[tokio::test]
async fn missing_handler_checked_after_params() {
    let err = error_of("unhandled", json!({"a":"x"})).await;
    assert_eq!(err.code, codes::INVALID_PARAMS);
    let err = error_of("unhandled", json!({"a":1,"b":2})).await;
    assert_eq!(err, RpcError::method_not_found());
}

#[tokio::test]
async fn rpc_error_passes_through_exactly() {
    let err = error_of("divide", json!({"a":1,"b":0})).await;
    assert_eq!(err, RpcError::new(-32000, "division by zero"));
    assert_eq!(err.data, Value::Null);
}

#[tokio::test]
async fn other_errors_are_internal_with_name_and_message() {
    let err = error_of("fail", json!({"a":1,"b":0})).await;
    assert_eq!(
        err,
        RpcError::internal(json!({"name":"Kaput","message":"kaput"}))
    );
}

#[tokio::test]
async fn panics_are_internal_errors_not_lost_calls() {
    let err = error_of("panic", json!({"a":1,"b":0})).await;
    assert_eq!(err.code, codes::INTERNAL_ERROR);
    assert_eq!(
        err.data,
        json!({"name":"panic","message":"handler blew up"})
    );
}

#[tokio::test]
async fn panics_before_the_future_exists_are_internal_errors_too() {
    let err = error_of("panicEarly", json!({"a":1,"b":0})).await;
    assert_eq!(
        err,
        RpcError::internal(json!({"name":"panic","message":"closure blew up"}))
    );
    let f = fixture();
    let out = f
        .dispatcher
        .dispatch(notification("panicEarly", json!({"a":1,"b":0})))
        .await;
    assert!(out.is_none());
}

#[tokio::test]
async fn unserializable_result_is_result_validation_failed() {
    let err = error_of("badResult", json!({"a":1,"b":0})).await;
    assert_eq!(err.code, codes::INTERNAL_ERROR);
    assert_eq!(err.message, "Result validation failed");
    assert_eq!(err.data["errors"][0]["type"], "serialization");
}

#[tokio::test]
async fn request_aimed_at_a_notification_runs_but_gets_no_response() {
    let f = fixture();
    assert!(f
        .dispatcher
        .dispatch(request("ping", json!({})))
        .await
        .is_none());
    assert_eq!(f.pings.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn notifications_never_get_a_response_in_any_row() {
    let f = fixture();
    for (method, params) in [
        ("ping", json!({"tag":"x"})),
        ("nope", json!({})),
        ("add", json!({"a":"two"})),
        ("unhandled", json!({"a":1,"b":2})),
        ("divide", json!({"a":1,"b":0})),
        ("fail", json!({"a":1,"b":0})),
        ("panic", json!({"a":1,"b":0})),
        ("panicEarly", json!({"a":1,"b":0})),
        ("add", json!({"a":1,"b":2})),
    ] {
        let out = f.dispatcher.dispatch(notification(method, params)).await;
        assert!(out.is_none(), "{method}");
    }
    assert_eq!(f.pings.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn option_fields_accept_absent_and_null_and_omit_none_on_write() {
    let f = fixture();
    for params in [json!({}), json!({"tag":null}), Value::Null] {
        let response = f
            .dispatcher
            .dispatch(request("echoTag", params.clone()))
            .await
            .unwrap();
        assert_eq!(response.outcome, Ok(json!({})), "{params}");
    }
    let response = f
        .dispatcher
        .dispatch(request("echoTag", json!({"tag":"x"})))
        .await
        .unwrap();
    assert_eq!(response.outcome, Ok(json!({"tag":"x"})));
}

#[tokio::test]
async fn in_flight_counts_running_handlers() {
    let gate = Arc::new(tokio::sync::Notify::new());
    const WAIT: Method<Tagged, Tagged> = Method::new("slow", "wait");
    let contract = Contract::builder("slow").method(WAIT).build().unwrap();
    let g = gate.clone();
    let service = Service::builder(contract)
        .handle(WAIT, move |p: Tagged| {
            let g = g.clone();
            async move {
                g.notified().await;
                Ok::<_, RpcError>(p)
            }
        })
        .build()
        .unwrap();
    let in_flight = InFlight::default();
    let d = Dispatcher::new(service, in_flight.clone());
    let env = Envelope::Request(Request {
        id: 1.into(),
        service: "slow".into(),
        method: "wait".into(),
        params: json!({}),
    });
    let task = tokio::spawn(d.dispatch(env));
    while in_flight.count() == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(in_flight.count(), 1);
    gate.notify_one();
    in_flight.wait_idle().await;
    assert_eq!(in_flight.count(), 0);
    assert!(task.await.unwrap().is_some());
}

#[tokio::test]
async fn json_handlers_are_validated_against_the_result_type() {
    const JSON_ADD: Method<AddParams, Sum> = Method::new("calc", "add");
    let contract = Contract::builder("calc").method(JSON_ADD).build().unwrap();
    let service = Service::builder(contract)
        .handle_json(JSON_ADD, |p: AddParams| async move {
            Ok::<_, RpcError>(if p.a < 0.0 {
                json!({"sum": "not a number"})
            } else {
                json!({"sum": p.a + p.b})
            })
        })
        .build()
        .unwrap();
    let d = Dispatcher::new(service, InFlight::default());
    let call = |a: f64| {
        d.dispatch(Envelope::Request(Request {
            id: 1.into(),
            service: "calc".into(),
            method: "add".into(),
            params: json!({"a": a, "b": 1}),
        }))
    };
    assert_eq!(call(1.0).await.unwrap().outcome, Ok(json!({"sum": 2.0})));
    let err = call(-1.0).await.unwrap().outcome.unwrap_err();
    assert_eq!(err.message, "Result validation failed");
    assert_eq!(err.data["errors"][0]["loc"], json!(["sum"]));
}

#[tokio::test]
async fn a_non_finite_result_is_refused_rather_than_sent_as_null() {
    let response = fixture()
        .dispatcher
        .dispatch(request("add", json!({"a": 1e308, "b": 1e308})))
        .await
        .unwrap();
    let err = response.outcome.unwrap_err();
    assert_eq!(err.message, "Result validation failed");
    assert_eq!(err.data["errors"][0]["loc"], json!(["sum"]));
}
