//! The OpenAPI document's content, and the gateway over the in-memory transport (no Redis):
//! the builder takes any client.

mod support;

use clamator::memory::MemoryBus;
use clamator::{JsonSchema, Method};
use clamator_gateway::{BuildError, Gateway};
use clamator_interop::contracts::ArithContract;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The refusal reasons of `jobs.launch`, as a closed set.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(rename_all = "kebab-case")]
enum Reason {
    NotFound,
    AlreadyRunning,
    NotLaunchable,
    Exploded,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Launched {
    #[schemars(extend("const" = true))]
    ok: bool,
    id: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct Refused {
    #[schemars(extend("const" = false))]
    ok: bool,
    reason: Reason,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
#[serde(untagged)]
enum LaunchResult {
    Launched(Launched),
    Refused(Refused),
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "clamator::schemars")]
struct LaunchParams {
    job: String,
}

const LAUNCH: Method<LaunchParams, LaunchResult> = Method::new("jobs", "launch");

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .expect("a $ref resolves"),
        None => schema,
    }
}

#[test]
fn operations_carry_the_contract_schemas() {
    let bus = MemoryBus::new();
    let doc = Gateway::builder(bus.client())
        .method(ArithContract::ADD)
        .method(LAUNCH)
        .openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let add = &doc["paths"]["/rpc/arith/add"]["post"];
    assert_eq!(add["operationId"], "arith.add");
    let params = resolve(
        &doc,
        &add["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(params["required"], json!(["a", "b"]));
    assert_eq!(params["properties"]["a"]["type"], "number");
    let result = resolve(
        &doc,
        &add["responses"]["200"]["content"]["application/json"]["schema"],
    );
    assert_eq!(result["properties"]["sum"]["type"], "number");
    for status in ["400", "413", "500", "502", "503", "504"] {
        let schema = &add["responses"][status]["content"]["application/json"]["schema"];
        assert_eq!(
            schema["$ref"], "#/components/schemas/GatewayError",
            "{status}"
        );
    }
    // No refusal union: no 404/409/412.
    for status in ["404", "409", "412"] {
        assert!(add["responses"].get(status).is_none(), "{status}");
    }
}

#[test]
fn refusal_unions_are_documented_4xx_responses() {
    let bus = MemoryBus::new();
    let doc = Gateway::builder(bus.client()).method(LAUNCH).openapi();
    let responses = &doc["paths"]["/rpc/jobs/launch"]["post"]["responses"];
    // not-found → 404, already-running → 409, not-launchable → 412, exploded (other) → 409.
    for (status, reasons) in [
        ("404", vec!["not-found"]),
        ("409", vec!["already-running", "exploded"]),
        ("412", vec!["not-launchable"]),
    ] {
        let response = &responses[status];
        let description = response["description"].as_str().unwrap_or_default();
        for reason in reasons {
            assert!(description.contains(reason), "{status}: {description}");
        }
        let schema = resolve(&doc, &response["content"]["application/json"]["schema"]);
        assert_eq!(
            schema["properties"]["ok"]["const"], false,
            "{status} documents the refusal branch: {schema}"
        );
    }
    assert!(responses.get("403").is_none(), "no reason maps to 403");
}

#[test]
fn bad_registrations_are_refused() {
    let bus = MemoryBus::new();
    let err = Gateway::builder(bus.client())
        .method(ArithContract::ADD)
        .method(ArithContract::ADD)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::Duplicate("arith.add".into()));
    const BAD: Method<LaunchParams, LaunchResult> = Method::new("Jobs", "launch");
    let err = Gateway::builder(bus.client())
        .method(BAD)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::InvalidName("Jobs.launch".into()));
}

#[tokio::test]
async fn memory_bus_gateway_serves_calls_the_document_and_health() {
    let bus = MemoryBus::new();
    let server = bus.server();
    server
        .register_service(clamator_interop::handlers::arith(Default::default()))
        .unwrap();
    server.start().await.unwrap();
    let gw = support::Gateway::serve(bus.client().into(), |b| {
        b.method(ArithContract::ADD).method(ArithContract::DIVIDE)
    })
    .await;
    let (status, body) = gw.rpc("arith/add", json!({"a": 1.5, "b": 2})).await;
    assert_eq!((status, body), (200, json!({"sum": 3.5})));
    let doc: Value = gw
        .http
        .get(format!("{}/openapi.json", gw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/rpc/arith/divide"]["post"].is_object());
    assert!(doc["paths"].get("/rpc/{service}/{method}").is_none());
    let health = gw
        .http
        .get(format!("{}/healthz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["services"], json!(["arith"]));
    // The memory bus's discover(): the one server of `arith`, with what it handled.
    let arith = health["instances"]["arith"].as_array().unwrap();
    assert_eq!(arith.len(), 1, "{health}");
    assert!(arith[0]["instanceId"]
        .as_str()
        .unwrap()
        .starts_with("memory-"));
    assert_eq!(arith[0]["handled"], 1);
    let missing = gw
        .http
        .get(format!("{}/nothing-here", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    gw.client.stop().await;
    server.stop(clamator::DEFAULT_STOP_GRACE).await;
}
