//! `call`, `notify` and `bench` against a Rust and a Python clamator 0.1.9 server over a
//! private Redis.

#[macro_use]
mod support;

use serde_json::json;
use support::Bus;

per_peer! {
    /// A call prints its result; `--json` prints it compact and exits 0; params may come from
    /// stdin.
    fn call_prints_the_result(peer) {
        let bus = Bus::new("call", peer);
        let run = bus.run(&["--json", "call", "arith.add", r#"{"a": 2, "b": 3}"#]);
        run.expect_code(0);
        assert_eq!(run.json(), json!({"sum": 5.0}));
        assert_eq!(run.stdout.trim(), r#"{"sum":5.0}"#, "compact with --json");
        let run = bus.run_with_stdin(&["--json", "call", "arith.echoText", "-"], r#"{"text":"héllo"}"#);
        run.expect_code(0);
        assert_eq!(run.json(), json!({"text": "héllo"}));
        // Without --json (stdout not a terminal) the result is still one JSON document.
        let run = bus.run(&["call", "arith.add", r#"{"a":1,"b":1}"#, "--timeout", "2s"]);
        run.expect_code(0);
        assert_eq!(run.json(), json!({"sum": 2.0}));
    }
}

per_peer! {
    /// An RPC error prints code, message and data and exits 1.
    fn rpc_error_exits_1(peer) {
        let bus = Bus::new("rpcerr", peer);
        let run = bus.run(&["--json", "call", "arith.divide", r#"{"a":1,"b":0}"#]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(doc["error"]["code"], -32000);
        assert_eq!(doc["error"]["message"], "division by zero");
        assert!(run.stderr.contains("error -32000: division by zero"), "{run:?}");
        // Invalid params: -32602 with the peer's `data`.
        let run = bus.run(&["call", "arith.add", r#"{"a":"two","b":3}"#]);
        run.expect_code(1);
        assert!(run.stderr.contains("-32602") && run.stderr.contains("data:"), "{run:?}");
        let run = bus.run(&["--json", "call", "arith.nope"]);
        run.expect_code(1);
        assert_eq!(run.json()["error"]["code"], -32601);
    }
}

per_peer! {
    /// A service nobody serves fails at once (no 30 s wait) with exit 2 and a hint.
    fn unknown_service_exits_2(peer) {
        let bus = Bus::new("unknown", peer);
        let started = std::time::Instant::now();
        let run = bus.run(&["--json", "call", "nosuch.add", "{}"]);
        run.expect_code(2);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let doc = run.json();
        assert_eq!(doc["error"]["kind"], "transport");
        assert!(doc["error"]["message"].as_str().unwrap().contains("no server for service \"nosuch\""));
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
        assert!(run.stderr.contains("clamator services"), "says what to try: {run:?}");
    }
}

per_peer! {
    /// A notification reaches the server's handler; nothing is awaited.
    fn notify_reaches_the_server(peer) {
        let mut bus = Bus::with_contracts("notify", peer, &["notifications"]);
        let run = bus.run(&["--json", "notify", "notifications.ping", r#"{"tag":"cli"}"#]);
        run.expect_code(0);
        assert_eq!(run.json(), json!({"sent": true, "service": "notifications", "method": "ping"}));
        bus.wait_drained("notifications");
        assert_eq!(bus.stop(), 1, "the ping handler ran once");
        // Nobody serves `nosuch`: refused (exit 2) rather than left unread in a new stream.
        let run = bus.run(&["--json", "notify", "nosuch.ping", "{}"]);
        run.expect_code(2);
        assert_eq!(run.json()["error"]["kind"], "transport");
        let exists: bool = redis::cmd("EXISTS").arg(bus.key("cmds:nosuch"))
            .query(&mut support::con()).unwrap();
        assert!(!exists);
    }
}

per_peer! {
    /// `bench` reports sane numbers: calls made, no errors, p50 ≤ p90 ≤ p99 ≤ max.
    fn bench_numbers_are_sane(peer) {
        let bus = Bus::new("bench", peer);
        let run = bus.run(&[
            "--json", "bench", "arith.add", r#"{"a":1,"b":2}"#, "--concurrency", "4",
            "--duration", "1s",
        ]);
        run.expect_code(0);
        let doc = run.json();
        let calls = doc["calls"].as_u64().unwrap();
        assert!(calls > 0, "{doc}");
        assert_eq!(doc["ok"].as_u64(), Some(calls));
        assert_eq!(doc["errors"], json!({}));
        let l = &doc["latencyMs"];
        let (p50, p90, p99, max) = (l["p50"].as_f64().unwrap(), l["p90"].as_f64().unwrap(),
            l["p99"].as_f64().unwrap(), l["max"].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p90 && p90 <= p99 && p99 <= max, "{doc}");
        assert!(doc["callsPerSecond"].as_f64().unwrap() > 0.0);
        let bucketed: u64 = doc["histogram"].as_array().unwrap().iter()
            .map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(bucketed, calls, "the histogram holds every call");
        // Errors are counted by kind.
        let run = bus.run(&["--json", "bench", "arith.divide", r#"{"a":1,"b":0}"#,
            "--concurrency", "2", "--duration", "300ms"]);
        run.expect_code(1);
        let doc = run.json();
        assert_eq!(doc["ok"], 0);
        assert!(doc["errors"]["rpc -32000 division by zero"].as_u64().unwrap() > 0, "{doc}");
    }
}

/// Usage errors exit 2 with one line that says what to do.
#[test]
fn usage_errors_exit_2() {
    let bus = Bus::bare("usage");
    let run = bus.run(&["--json", "call", "arith.add", "{not json"]);
    run.expect_code(2);
    assert_eq!(run.json()["error"]["kind"], "usage");
    assert!(run.stderr.contains("params are not valid JSON"), "{run:?}");
    let run = bus.run(&["call", "arith"]);
    run.expect_code(2);
    assert!(run.stderr.contains("is not <service>.<method>"), "{run:?}");
    let run = bus
        .cli()
        .env_remove("CLAMATOR_PREFIX")
        .args(["--json", "services"])
        .output()
        .unwrap();
    let run = support::Run::from(run);
    run.expect_code(2);
    assert!(run.stderr.contains("--prefix"), "{run:?}");
    let run = bus.run(&["--redis-url", "redis://127.0.0.1:1", "--json", "services"]);
    run.expect_code(2);
    assert_eq!(run.json()["error"]["kind"], "transport");
    let run = bus.run(&["call"]);
    run.expect_code(2);
}
