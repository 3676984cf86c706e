//! `dead list|show|replay|purge`: a dead letter (written the way a server of this crate
//! writes one) is listed, shown, replayed to a Rust or Python clamator 0.1.9 server that
//! answers the original caller's reply stream, and purged.

#[macro_use]
mod support;

use serde_json::{json, Value};
use support::{con, Bus};

/// Writes a dead letter for `arith.add` whose caller listens on `reply_to`; its id.
fn dead_letter(bus: &Bus, request_id: &str, reply_to: &str, a: i64) -> String {
    let envelope = json!({"jsonrpc": "2.0", "id": request_id, "method": "arith.add",
                          "params": {"a": a, "b": 1}});
    redis::cmd("XADD")
        .arg(bus.key("dead:arith"))
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope.to_string())
        .arg("reply-to")
        .arg(reply_to)
        .arg("timeout-ms")
        .arg(30_000)
        .arg("dead-reason")
        .arg("delivered 6 times (max 5)")
        .arg("dead-entry-id")
        .arg("1700000000000-0")
        .arg("dead-deliveries")
        .arg(6)
        .query(&mut con())
        .unwrap()
}

/// Waits (XREAD BLOCK) for the reply to `request_id` on `reply_to`.
fn await_reply(reply_to: &str, request_id: &str) -> Value {
    await_reply_after(reply_to, request_id, "0-0").1
}

/// Waits for the reply to `request_id` on `reply_to` after entry `after`: its entry id and
/// envelope.
fn await_reply_after(reply_to: &str, request_id: &str, after: &str) -> (String, Value) {
    let mut c = con();
    let mut last = after.to_owned();
    loop {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(10_000)
            .arg("STREAMS")
            .arg(reply_to)
            .arg(&last)
            .query(&mut c)
            .unwrap();
        assert!(!reply.keys.is_empty(), "no reply on {reply_to} within 10 s");
        for entry in &reply.keys[0].ids {
            last.clone_from(&entry.id);
            let text: String = entry.get("envelope").unwrap();
            let env: Value = serde_json::from_str(&text).unwrap();
            if env["id"] == request_id {
                return (entry.id.clone(), env);
            }
        }
    }
}

fn xlen(key: &str) -> i64 {
    redis::cmd("XLEN").arg(key).query(&mut con()).unwrap()
}

per_peer! {
    /// list → show → replay (dry run, then for real) → the server answers the original caller.
    fn dead_letter_round_trip(peer) {
        let bus = Bus::new("dead", peer);
        let reply_to = bus.key("replies:gone-caller");
        let id = dead_letter(&bus, "dl-1", &reply_to, 8);
        let other = dead_letter(&bus, "dl-2", &reply_to, 40);

        let doc = bus.run(&["--json", "dead", "list", "arith"]).expect_code(0).json();
        let rows = doc["dead"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{doc}");
        assert_eq!(rows[0]["id"], id);
        assert_eq!(rows[0]["entryId"], "1700000000000-0");
        assert_eq!(rows[0]["deliveries"], 6);
        assert_eq!(rows[0]["method"], "arith.add");
        assert_eq!(rows[0]["reason"], "delivered 6 times (max 5)");
        assert_eq!(rows[0]["replyTo"], json!(reply_to));
        let table = bus.run(&["dead", "list", "arith"]);
        assert!(table.stdout.contains("delivered 6 times (max 5)"), "{table:?}");

        let doc = bus.run(&["--json", "dead", "show", "arith", &id]).expect_code(0).json();
        assert_eq!(doc["fields"]["dead-deliveries"], "6");
        assert_eq!(doc["fields"]["timeout-ms"], "30000");
        assert_eq!(doc["envelope"]["params"], json!({"a": 8, "b": 1}));
        bus.run(&["dead", "show", "arith", "1-0"]).expect_code(2);
        bus.run(&["dead", "show", "arith", "not-an-id"]).expect_code(2);

        let doc = bus.run(&["--json", "dead", "replay", "arith", "--all", "--dry-run"])
            .expect_code(0).json();
        assert_eq!(doc["results"].as_array().unwrap().len(), 2);
        assert_eq!(doc["results"][0]["status"], "would replay");
        assert_eq!(xlen(&bus.key("dead:arith")), 2, "a dry run changes nothing");

        let doc = bus.run(&["--json", "dead", "replay", "arith", &id]).expect_code(0).json();
        assert_eq!(doc["replayed"], 1);
        assert_eq!(doc["results"][0]["status"], "replayed");
        let new_id = doc["results"][0]["newId"].as_str().unwrap().to_owned();
        // The server handles the replayed entry and answers the original reply stream.
        let reply = await_reply(&reply_to, "dl-1");
        assert_eq!(reply["result"], json!({"sum": 9.0}));
        assert_eq!(xlen(&bus.key("dead:arith")), 1, "only the replayed letter is gone");
        let ms = |id: &str| id.split('-').next().unwrap().parse::<u64>().unwrap();
        assert!(ms(&new_id) >= ms(&id), "a new command-stream entry: {new_id}");

        // The rest with --all; an unknown id is reported, exit 2.
        let doc = bus.run(&["--json", "dead", "replay", "arith", "--all"]).expect_code(0).json();
        assert_eq!(doc["results"][0]["id"], other);
        assert_eq!(await_reply(&reply_to, "dl-2")["result"], json!({"sum": 41.0}));
        assert_eq!(xlen(&bus.key("dead:arith")), 0);
        let run = bus.run(&["--json", "dead", "replay", "arith", &id]);
        run.expect_code(2);
        assert_eq!(run.json()["results"][0]["status"], "missing");
    }
}

/// A real dead letter: a Rust server with `max_deliveries = 3` moves an entry delivered too
/// often (a consumer that died with it, redelivered 10 times) to the dead-letter stream and
/// answers -32002; `dead list` shows what the server wrote, and the replayed entry is served.
#[test]
fn rust_server_dead_letter_is_replayed_and_served() {
    let bus = Bus::rust_with("deadrs", |o| {
        o.with_claim_idle(std::time::Duration::from_millis(300))
            .with_max_deliveries(3)
    });
    let stream = bus.key("cmds:arith");
    let reply_to = bus.key("replies:caller");
    let envelope = json!({"jsonrpc": "2.0", "id": "poison-1", "method": "arith.add",
                          "params": {"a": 2, "b": 2}});
    // Written and taken by a consumer that then "dies" in one transaction, so the server's
    // own blocked read never gets it; then marked as delivered 10 times.
    let (id, _): (String, redis::Value) = redis::pipe()
        .atomic()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("type")
        .arg("rpc")
        .arg("envelope")
        .arg(envelope.to_string())
        .arg("reply-to")
        .arg(&reply_to)
        .cmd("XREADGROUP")
        .arg("GROUP")
        .arg("arith")
        .arg("arith:ghost")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query(&mut con())
        .unwrap();
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("arith")
        .arg("arith:ghost")
        .arg(0)
        .arg(&id)
        .arg("RETRYCOUNT")
        .arg(10)
        .query(&mut con())
        .unwrap();
    // The server reclaims it after the idle time, sees 11 deliveries and dead-letters it.
    let (after, answer) = await_reply_after(&reply_to, "poison-1", "0-0");
    assert_eq!(answer["error"]["code"], -32002, "{answer}");

    let doc = bus
        .run(&["--json", "dead", "list", "arith"])
        .expect_code(0)
        .json();
    let rows = doc["dead"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{doc}");
    assert_eq!(rows[0]["entryId"], json!(id));
    assert_eq!(rows[0]["deliveries"], 11);
    assert_eq!(rows[0]["method"], "arith.add");
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("max_deliveries=3"),
        "{doc}"
    );
    let dead_id = rows[0]["id"].as_str().unwrap().to_owned();
    let doc = bus
        .run(&["--json", "dead", "show", "arith", &dead_id])
        .expect_code(0)
        .json();
    assert_eq!(doc["envelope"], envelope);
    assert_eq!(doc["fields"]["reply-to"], json!(reply_to));

    let doc = bus
        .run(&["--json", "dead", "replay", "arith", &dead_id])
        .expect_code(0)
        .json();
    assert_eq!(doc["replayed"], 1);
    let (_, answer) = await_reply_after(&reply_to, "poison-1", &after);
    assert_eq!(
        answer["result"],
        json!({"sum": 4.0}),
        "the replayed entry is served"
    );
    assert_eq!(xlen(&bus.key("dead:arith")), 0);
}

/// `purge --older-than` removes only old letters (by their dead-letter time); plain `purge`
/// removes the rest; `--dry-run` only counts.
#[test]
fn dead_purge_by_age() {
    let bus = Bus::bare("purge");
    let key = bus.key("dead:arith");
    let old: String = redis::cmd("XADD")
        .arg(&key)
        .arg("1000-0")
        .arg("envelope")
        .arg("{}")
        .query(&mut con())
        .unwrap();
    assert_eq!(old, "1000-0");
    let _ = dead_letter(&bus, "new", &bus.key("replies:x"), 1);
    let doc = bus
        .run(&[
            "--json",
            "dead",
            "purge",
            "arith",
            "--older-than",
            "1h",
            "--dry-run",
        ])
        .expect_code(0)
        .json();
    assert_eq!(
        (doc["matched"].as_u64(), doc["deleted"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(xlen(&key), 2);
    let doc = bus
        .run(&["--json", "dead", "purge", "arith", "--older-than", "1h"])
        .expect_code(0)
        .json();
    assert_eq!(doc["deleted"], 1);
    let doc = bus
        .run(&["--json", "dead", "list", "arith"])
        .expect_code(0)
        .json();
    assert_eq!(doc["dead"].as_array().unwrap().len(), 1);
    assert_ne!(doc["dead"][0]["id"], "1000-0");
    let run = bus.run(&["dead", "purge", "arith"]);
    run.expect_code(0);
    assert!(run.stdout.contains("deleted 1 dead letter from"), "{run:?}");
    assert_eq!(xlen(&key), 0);
}
