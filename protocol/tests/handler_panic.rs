//! Handler panics, in the closure body or in its future, for every kind of handler: answered
//! -32603 and logged, never a lost call. Its own test binary with a single test: `tracing`
//! caches per-callsite interest process-wide, so a log capture installed with `set_default`
//! is unreliable while tests on other threads hit the same callsites.

use std::sync::{Arc, Mutex};

use clamator_protocol::{
    Contract, Dispatcher, Envelope, InFlight, Method, Notification, NotificationMethod, Request,
    RpcError, Service,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Serialize, Deserialize)]
struct Tagged {
    tag: Option<String>,
}

/// Records every event's level and fields as text, so the test can assert what was logged.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<String>>>);

impl CapturedLogs {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct FieldsText(String);

impl tracing::field::Visit for FieldsText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = FieldsText(format!("{} ", event.metadata().level()));
        event.record(&mut text);
        self.0.lock().unwrap().push(text.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

const TYPED_EARLY: Method<Tagged, Tagged> = Method::new("boom", "typedEarly");
const TYPED_LATE: Method<Tagged, Tagged> = Method::new("boom", "typedLate");
const JSON_EARLY: Method<Tagged, Tagged> = Method::new("boom", "jsonEarly");
const JSON_LATE: Method<Tagged, Tagged> = Method::new("boom", "jsonLate");
const NOTE_EARLY: NotificationMethod<Tagged> = NotificationMethod::new("boom", "noteEarly");
const NOTE_LATE: NotificationMethod<Tagged> = NotificationMethod::new("boom", "noteLate");

/// `tag == "spare"` returns normally: proof the same handler still serves afterwards.
fn spared(p: &Tagged) -> bool {
    p.tag.as_deref() == Some("spare")
}

fn service() -> Service {
    let contract = Contract::builder("boom")
        .method(TYPED_EARLY)
        .method(TYPED_LATE)
        .method(JSON_EARLY)
        .method(JSON_LATE)
        .notification(NOTE_EARLY)
        .notification(NOTE_LATE)
        .build()
        .unwrap();
    Service::builder(contract)
        .handle(TYPED_EARLY, |p: Tagged| {
            if !spared(&p) {
                panic!("typedEarly blew up");
            }
            async move { Ok::<_, RpcError>(p) }
        })
        .handle(TYPED_LATE, |p: Tagged| async move {
            if !spared(&p) {
                // A `String` payload, where the others are `&str`.
                panic!("{} blew up", "typedLate");
            }
            Ok::<_, RpcError>(p)
        })
        .handle_json(JSON_EARLY, |p: Tagged| {
            if !spared(&p) {
                panic!("jsonEarly blew up");
            }
            async move { Ok::<_, RpcError>(json!({"tag": p.tag})) }
        })
        .handle_json(JSON_LATE, |p: Tagged| async move {
            if !spared(&p) {
                panic!("jsonLate blew up");
            }
            Ok::<_, RpcError>(json!({"tag": p.tag}))
        })
        .on_notification(NOTE_EARLY, |p: Tagged| {
            if !spared(&p) {
                panic!("noteEarly blew up");
            }
            async {}
        })
        .on_notification(NOTE_LATE, |p: Tagged| async move {
            if !spared(&p) {
                panic!("noteLate blew up");
            }
        })
        .build()
        .unwrap()
}

/// A panic in the closure body used to unwind through the dispatcher (the caller never got an
/// answer); one in the future was already caught. Both must answer -32603 and be logged.
#[tokio::test]
async fn every_kind_of_handler_panic_is_answered_and_logged() {
    let d = Dispatcher::new(service(), InFlight::default());
    let logs = CapturedLogs::default();
    let _default = tracing::subscriber::set_default(logs.clone());
    let request = |method: &'static str, params: Value| {
        d.dispatch(Envelope::Request(Request {
            id: "r1".into(),
            service: "boom".into(),
            method: method.into(),
            params,
        }))
    };

    for method in ["typedEarly", "typedLate", "jsonEarly", "jsonLate"] {
        let response = request(method, json!({})).await.expect("a response");
        assert_eq!(response.id, json!("r1"));
        assert_eq!(
            response.outcome,
            Err(RpcError::internal(
                json!({"name": "panic", "message": format!("{method} blew up")})
            )),
            "{method}"
        );
        let response = request(method, json!({"tag": "spare"})).await.unwrap();
        assert_eq!(response.outcome, Ok(json!({"tag": "spare"})), "{method}");
    }
    for method in ["noteEarly", "noteLate"] {
        let out = d
            .dispatch(Envelope::Notification(Notification {
                service: "boom".into(),
                method: method.into(),
                params: json!({}),
            }))
            .await;
        assert!(out.is_none(), "{method}");
    }

    let lines = logs.lines();
    for method in [
        "typedEarly",
        "typedLate",
        "jsonEarly",
        "jsonLate",
        "noteEarly",
        "noteLate",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with("ERROR ")
                && l.contains(&format!("RPC handler raised: boom.{method}"))
                && l.contains(&format!("panic: {method} blew up"))),
            "no error logged for {method}: {lines:#?}"
        );
    }
}
