//! The real Python client sends a string with a lone surrogate (`json.dumps` writes it as the
//! escape `\ud800`, valid JSON) to the Rust server, which answers instead of dropping the
//! envelope: U+FFFD stands where the surrogate was. Not a scenario: scenario files and the
//! runner hold calls as `serde_json` values, which cannot contain a lone surrogate; here the
//! client's config is raw JSON text. Only this direction exists (a Rust client cannot send
//! a lone surrogate: a Rust `String` cannot hold one).

use std::path::Path;

use clamator_interop::runner::env::{python_peer, RedisForTests};
use clamator_interop::runner::process::{run_client_text, Drivers, Lang, ServerProcess};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_lone_surrogate_is_answered_by_the_rust_server() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let python = python_peer(interop.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let drivers = Drivers {
        python,
        python_dir: interop.join("python"),
        rust_server: env!("CARGO_BIN_EXE_interop-server").into(),
        rust_client: env!("CARGO_BIN_EXE_interop-client").into(),
    };
    let prefix = format!(
        "clam-interop-lone-surrogate-{}",
        &uuid::Uuid::new_v4().to_string()[..8]
    );
    let server = ServerProcess::start(
        &drivers,
        Lang::Rust,
        "srv-A",
        json!({"contract": "arith", "redisUrl": redis.url, "keyPrefix": prefix,
               "instanceId": "srv-A", "generatedDir": ""}),
    )
    .await
    .unwrap();
    // The call's timeout is far above an answer's few milliseconds: a dropped envelope shows
    // up as a transport-error result.
    let config = format!(
        r#"{{"redisUrl":{url},"keyPrefix":{prefix},"defaultTimeoutMs":10000,"calls":[
            {{"method":"arith.echoText","params":{{"text":"lone \ud800 high"}}}},
            {{"method":"arith.echoText","params":{{"text":"lone \udfff low, pair \ud83d\ude00"}}}}
        ]}}"#,
        url = json!(redis.url),
        prefix = json!(prefix),
    );
    let results = run_client_text(&drivers, Lang::Py, &config).await;
    let handled = server.terminate().await;
    let mut con = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut con)
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query(&mut con).unwrap();
    }

    let results = results.unwrap();
    assert_eq!(
        results,
        [
            json!({"ok": true, "kind": "result", "result": {"text": "lone \u{FFFD} high"}}),
            json!({"ok": true, "kind": "result",
                   "result": {"text": "lone \u{FFFD} low, pair 😀"}}),
        ]
    );
    assert_eq!(handled, Ok(2));
}
