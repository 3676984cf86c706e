//! The Rust client and server write, field by field, what the Python peer wrote in
//! `fixtures/wire/python-0.1.9.json` (recorded once with clamator-over-redis 0.1.9 by
//! `python/record_wire.py`). Ids, entry ids, the key prefix and the client instance id vary per
//! run and are compared as templates; the one extra field this client writes (`timeout-ms`,
//! ignored by peers) is allowed; `-32602` data is compared loosely because each language
//! describes validation errors its own way (the code and message must match).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator_interop::fixtures::matches;
use clamator_interop::handlers::{self, Counters};
use clamator_interop::runner::env::RedisForTests;
use redis::AsyncCommands;
use serde_json::{json, Value};

type Fields = Vec<(String, String)>;

fn recorded() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wire/python-0.1.9.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn as_fields(v: &Value) -> Fields {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn last_entry(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Fields> {
    let reply: redis::streams::StreamRangeReply =
        con.xrevrange_count(key, "+", "-", 1).await.ok()?;
    let entry = reply.ids.into_iter().next()?;
    // Field order as stored: read the raw map in order.
    let raw: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg(&entry.id)
        .arg(&entry.id)
        .query_async(con)
        .await
        .ok()?;
    raw.into_iter().next().map(|(_, fields)| fields)
}

fn template(text: &str, prefix: &str) -> String {
    text.replace(prefix, "{prefix}")
        .replace("client-1", "{client}")
}

fn normalise_envelope(text: &str, loose_invalid_params: bool) -> Result<Value, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("{e}: {text}"))?;
    match v.get("id") {
        Some(Value::String(id)) if id.len() == 36 => v["id"] = json!("<uuid>"),
        None => {}
        other => return Err(format!("id is not a UUID string: {other:?}")),
    }
    if loose_invalid_params && v["error"]["code"] == -32602 {
        v["error"]["data"] = json!({"$any": true});
    }
    Ok(v)
}

fn compare(expected: &Fields, actual: &Fields, prefix: &str) -> Result<(), String> {
    let actual: Fields = actual
        .iter()
        .filter(|(k, v)| {
            // The caller's timeout, an extra field peers ignore; it must be a number.
            !(k == "timeout-ms" && v.parse::<u64>().is_ok())
        })
        .cloned()
        .collect();
    let names = |f: &Fields| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    if names(expected) != names(&actual) {
        return Err(format!(
            "fields {:?} != peer's {:?}",
            names(&actual),
            names(expected)
        ));
    }
    for ((name, want), (_, got)) in expected.iter().zip(&actual) {
        let ok = match name.as_str() {
            "envelope" => {
                let want = normalise_envelope(want, true)?;
                let got = normalise_envelope(got, false)?;
                matches(&want, &got)
            }
            "reply-to" => want == &template(got, prefix),
            _ => want == got,
        };
        if !ok {
            return Err(format!("field {name}: peer wrote {want}, we wrote {got}"));
        }
    }
    Ok(())
}

async fn perform(client: &RedisRpcClient, call: &Value) {
    let (service, method) = call["method"].as_str().unwrap().split_once('.').unwrap();
    let params = call["params"].clone();
    if call["notification"] == true {
        client.notify_raw(service, method, params).await.unwrap();
    } else {
        // Errors are expected for some cases; only the bytes on the wire matter here.
        let _ = client.call_raw(service, method, params, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_writes_what_the_python_peer_writes() {
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let cases = recorded()["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 7);
    let mut con = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut failures = Vec::new();

    // Requests: groups exist but nobody reads, so each entry stays where the client wrote it.
    let prefix = format!("wire-req-{}", &tag[..6]);
    for service in ["arith", "notifications"] {
        let _: () = con
            .xgroup_create_mkstream(format!("{prefix}:cmds:{service}"), service, "$")
            .await
            .unwrap();
    }
    let client = RedisRpcClient::new(
        RedisClientOptions::new(prefix.clone())
            .with_redis_url(redis.url.clone())
            .with_instance_id("client-1")
            .with_default_timeout(Duration::from_millis(100)),
    );
    client.start().await.unwrap();
    let mut written: Vec<(String, Fields)> = Vec::new();
    for case in &cases {
        perform(&client, &case["call"]).await;
        let service = case["call"]["method"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let key = format!("{prefix}:cmds:{service}");
        assert_eq!(template(&key, &prefix), case["request"]["stream"]);
        let got = last_entry(&mut con, &key).await.expect("request entry");
        if let Err(e) = compare(&as_fields(&case["request"]["fields"]), &got, &prefix) {
            failures.push(format!("request {}: {e}", case["call"]));
        }
        written.push((service.to_owned(), got));
    }
    client.stop().await;

    // Replies: a Rust server answers a Rust client; the reply stream keeps every reply.
    let prefix = format!("wire-rep-{}", &tag[..6]);
    let server = RedisRpcServer::new(
        RedisServerOptions::new(prefix.clone()).with_redis_url(redis.url.clone()),
    );
    let counters = Arc::new(Counters::default());
    server
        .register_service(handlers::arith(counters.clone()))
        .unwrap();
    server
        .register_service(handlers::notifications(counters))
        .unwrap();
    server.start().await.unwrap();
    // The requests the Rust client wrote above, re-sent as a peer client would, to a reply
    // stream only this test reads (a clamator client deletes the replies it has read).
    let replies = format!("{prefix}:replies:client-1");
    let mut answered = 0;
    let mut last_reply = "0-0".to_owned();
    for (case, (service, fields)) in cases.iter().zip(&written) {
        let stream = format!("{prefix}:cmds:{service}");
        let mut add = redis::cmd("XADD");
        add.arg(&stream).arg("*");
        for (k, v) in fields {
            let v = if k == "reply-to" {
                replies.clone()
            } else {
                v.clone()
            };
            add.arg(k).arg(v);
        }
        let _: String = add.query_async(&mut con).await.unwrap();
        if case["reply"].is_null() {
            continue;
        }
        answered += 1;
        assert_eq!(template(&replies, &prefix), case["reply"]["stream"]);
        let read: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(10_000)
            .arg("STREAMS")
            .arg(&replies)
            .arg(&last_reply)
            .query_async(&mut con)
            .await
            .unwrap();
        let entry = read.keys[0].ids[0].clone();
        last_reply.clone_from(&entry.id);
        let got: Fields = last_entry(&mut con, &replies)
            .await
            .filter(|_| !entry.id.is_empty())
            .expect("reply entry");
        if let Err(e) = compare(&as_fields(&case["reply"]["fields"]), &got, &prefix) {
            failures.push(format!("reply to {}: {e}", case["call"]));
        }
    }
    // Notifications were never answered: the stream holds exactly one reply per request.
    let len: usize = con.xlen(&replies).await.unwrap();
    assert_eq!(len, answered, "a notification was answered");
    server.stop(Duration::from_secs(1)).await;
    for p in [format!("wire-req-{}", &tag[..6]), prefix] {
        let keys: Vec<String> = con.keys(format!("{p}:*")).await.unwrap();
        if !keys.is_empty() {
            let _: () = con.del(keys).await.unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
