//! `services`, `pending` and `tail` against a Rust and a Python clamator 0.1.9 server: the
//! figures must be the ones `XINFO` / `XPENDING` report.

#[macro_use]
mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{json, Value};
use support::{con, map, scalar, Bus, Peer, Run};

fn xinfo_group(bus: &Bus, service: &str) -> Value {
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(bus.key(&format!("cmds:{service}")))
        .query(&mut con())
        .unwrap();
    groups
        .iter()
        .map(map)
        .find(|g| g["name"] == json!(service))
        .expect("the group exists")
}

fn xlen(key: &str) -> i64 {
    redis::cmd("XLEN").arg(key).query(&mut con()).unwrap()
}

/// Starts a slow call in the background and returns once the server has it pending.
fn slow_call_pending(bus: &Bus) -> std::process::Child {
    let child = bus
        .cli()
        .args([
            "--json",
            "call",
            "arith.slowAdd",
            r#"{"a":1,"b":2,"sleepMs":3000}"#,
        ])
        .args(["--timeout", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    support::eventually(
        std::time::Duration::from_secs(10),
        "the call is pending",
        || xinfo_group(bus, "arith")["pending"] == json!(1),
    );
    child
}

per_peer! {
    /// One row per command stream; consumers, entries, pending, lag and dead letters as
    /// XINFO GROUPS / XLEN say; a stream without a group is shown as such.
    fn services_match_xinfo(peer) {
        let bus = Bus::new("services", peer);
        for _ in 0..3 {
            bus.run(&["call", "arith.add", r#"{"a":1,"b":1}"#]).expect_code(0);
        }
        // Something written before any server: no group.
        let _: String = redis::cmd("XADD").arg(bus.key("cmds:orphan")).arg("*")
            .arg("type").arg("rpc").arg("envelope").arg("{}").query(&mut con()).unwrap();
        let _: String = redis::cmd("XADD").arg(bus.key("dead:arith")).arg("*")
            .arg("type").arg("rpc").arg("envelope").arg("{}").query(&mut con()).unwrap();
        let pending = slow_call_pending(&bus);
        let run = bus.run(&["--json", "services"]);
        run.expect_code(0);
        let doc = run.json();
        let rows = doc["services"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{doc}");
        let arith = &rows[0];
        let g = xinfo_group(&bus, "arith");
        assert_eq!(arith["service"], "arith");
        assert_eq!(arith["group"], true);
        assert_eq!(arith["consumers"], g["consumers"]);
        assert_eq!(arith["pending"], g["pending"]);
        assert_eq!(arith["pending"], 1);
        assert_eq!(arith["lag"], g["lag"]);
        assert_eq!(arith["entries"], json!(xlen(&bus.key("cmds:arith"))));
        assert_eq!(arith["deadLetters"], 1);
        assert!(arith["oldestPendingMs"].as_u64().is_some(), "{arith}");
        // Presence: a Rust server publishes its record; a Python peer publishes none.
        let instances = arith["instances"].as_array().unwrap();
        match peer {
            Peer::Rust => {
                assert_eq!(arith["live"], 1, "{arith}");
                assert_eq!(instances[0]["service"], "arith");
                assert!(instances[0]["pid"].as_u64().unwrap() > 0, "{arith}");
            }
            Peer::Python => assert_eq!(arith["live"], 0, "{arith}"),
        }
        let orphan = &rows[1];
        assert_eq!(orphan["service"], "orphan");
        assert_eq!(orphan["group"], false);
        assert_eq!(orphan["consumers"], 0);
        assert_eq!(orphan["entries"], 1);
        // The table has the same figures.
        let table = bus.run(&["services"]);
        table.expect_code(0);
        assert!(table.stdout.starts_with("SERVICE"), "{table:?}");
        assert!(table.stdout.contains("orphan (no group)"), "{table:?}");
        let listed = bus.run(&["services", "--instances"]);
        listed.expect_code(0);
        assert!(listed.stdout.contains("INSTANCE"), "{listed:?}");
        if matches!(peer, Peer::Rust) {
            let id = instances[0]["instanceId"].as_str().unwrap();
            assert!(listed.stdout.contains(id), "{listed:?}");
        }
        let out = pending.wait_with_output().unwrap();
        assert_eq!(Run::from(out).expect_code(0).json(), json!({"sum": 3.0}));
    }
}

per_peer! {
    /// `pending` lists what XPENDING lists, with the method from each entry's envelope.
    fn pending_matches_xpending(peer) {
        let bus = Bus::new("pending", peer);
        let call = slow_call_pending(&bus);
        let run = bus.run(&["--json", "pending", "arith"]);
        run.expect_code(0);
        let doc = run.json();
        let rows = doc["pending"].as_array().unwrap();
        let xp: Vec<Vec<redis::Value>> = redis::cmd("XPENDING").arg(bus.key("cmds:arith"))
            .arg("arith").arg("-").arg("+").arg(10).query(&mut con()).unwrap();
        assert_eq!(rows.len(), 1, "{doc}");
        assert_eq!(xp.len(), 1);
        assert_eq!(rows[0]["id"], scalar(&xp[0][0]));
        assert_eq!(rows[0]["consumer"], scalar(&xp[0][1]));
        assert_eq!(rows[0]["deliveries"], scalar(&xp[0][3]));
        assert!(rows[0]["idleMs"].as_u64().unwrap() <= scalar(&xp[0][2]).as_u64().unwrap());
        assert_eq!(rows[0]["method"], "arith.slowAdd");
        let table = bus.run(&["pending", "arith"]);
        assert!(table.stdout.contains("arith.slowAdd"), "{table:?}");
        Run::from(call.wait_with_output().unwrap()).expect_code(0);
        let run = bus.run(&["--json", "pending", "arith"]);
        assert_eq!(run.expect_code(0).json()["pending"], json!([]));
        // A service nobody serves has no group: exit 2 with a hint.
        let run = bus.run(&["pending", "nosuch"]);
        run.expect_code(2);
        assert!(run.stderr.contains("no consumer group"), "{run:?}");
    }
}

per_peer! {
    /// `tail` sees a call (method, params, reply-to) without joining the consumer group.
    fn tail_sees_a_call(peer) {
        let bus = Bus::new("tail", peer);
        let mut tail = bus.cli().args(["--json", "tail", "arith", "--count", "1"])
            .stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The tail says where it starts once it knows; anything written after is seen.
        let mut err = BufReader::new(tail.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.starts_with("following"), "{line}");
        bus.run(&["call", "arith.add", r#"{"a":20,"b":22}"#]).expect_code(0);
        let out = tail.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let row: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(row["method"], "arith.add");
        assert_eq!(row["params"], json!({"a": 20, "b": 22}));
        assert_eq!(row["kind"], "request");
        assert!(row["replyTo"].as_str().unwrap().starts_with(&bus.key("replies:")), "{row}");
        // Read-only: the only consumers of the group are the server's.
        let consumers: Vec<redis::Value> = redis::cmd("XINFO").arg("CONSUMERS")
            .arg(bus.key("cmds:arith")).arg("arith").query(&mut con()).unwrap();
        for c in &consumers {
            let name = map(c)["name"].as_str().unwrap().to_owned();
            assert!(name.starts_with("arith:srv-"), "tail joined the group as {name}");
        }
    }
}
