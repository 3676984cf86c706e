//! Junk written straight into streams while they carry valid traffic: 10 000 entries of 50 kinds
//! into a command stream (with hostile `reply-to` values), and 10 000 into a client's reply
//! stream. Valid calls must all be answered, nothing may be written outside the allowed keys.

use std::time::Duration;

use clamator_over_redis::{
    command_stream, dead_letter_stream, presence_instances, presence_record, presence_services,
};
use redis::aio::MultiplexedConnection;

use super::{count_runs, prefix, start_client, Ctx, Outcome, CAP};
use crate::load::{call_one, CallSpec, Counters, Load, Outcome as CallOutcome};
use crate::redis_proc::{admin, Persistence, RedisProc};
use crate::report::ScenarioResult;
use crate::service::{start_server, Runs};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// One kind of junk entry.
struct Junk {
    name: &'static str,
    fields: Fields,
}

fn fields(pairs: &[(&[u8], &[u8])]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// `n` of junk requests: far above the numbers of valid calls (which are checked for runs > 1).
const JUNK_N: u64 = 1 << 40;

fn request(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":"junk","method":"{method}","params":{params}}}"#)
}

fn good() -> String {
    request("chaos.work", &format!(r#"{{"n":{JUNK_N},"sleepMs":0}}"#))
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

/// The keys a hostile `reply-to` names.
struct Targets {
    cmd: String,
    sink: String,
    victim: String,
    fresh: String,
    wrong_type: String,
    other_cmds: String,
}

impl Targets {
    fn new(prefix: &str) -> Self {
        Self {
            cmd: command_stream(prefix, crate::service::SERVICE),
            sink: format!("{prefix}:replies:junk-sink"),
            victim: "outside:victim".into(),
            fresh: "outside:fresh".into(),
            wrong_type: format!("{prefix}:replies:wrong-type"),
            other_cmds: format!("{prefix}:cmds:other"),
        }
    }
}

/// Junk kinds for a command stream, cycled through.
fn command_junk(t: &Targets) -> Vec<Junk> {
    let g = good();
    let sink = t.sink.as_bytes();
    let rpc = |env: &str| {
        fields(&[
            (b"type", b"rpc"),
            (b"envelope", env.as_bytes()),
            (b"reply-to", sink),
        ])
    };
    let to = |reply_to: &[u8]| {
        fields(&[
            (b"type", b"rpc"),
            (b"envelope", g.as_bytes()),
            (b"reply-to", reply_to),
        ])
    };
    let p = |params: &str| rpc(&request("chaos.work", params));
    let timeout_ms = |v: &[u8]| {
        fields(&[
            (b"type", b"rpc"),
            (b"envelope", g.as_bytes()),
            (b"reply-to", sink),
            (b"timeout-ms", v),
        ])
    };
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(g.as_bytes());
    let nul = g.replacen("chaos.work", "chaos.\0work", 1);
    let huge_reply_to = format!("outside:{}", "x".repeat(64 * 1024));
    let j = |name, fields| Junk { name, fields };
    vec![
        j("one-unrelated-field", fields(&[(b"junk", b"1")])),
        j("type-only", fields(&[(b"type", b"rpc")])),
        j("envelope-only", fields(&[(b"envelope", g.as_bytes())])),
        j(
            "unknown-type",
            fields(&[
                (b"type", b"bogus"),
                (b"envelope", g.as_bytes()),
                (b"reply-to", sink),
            ]),
        ),
        j(
            "non-utf8-envelope",
            fields(&[
                (b"type", b"rpc"),
                (b"envelope", b"\xff\xfe\xfd"),
                (b"reply-to", sink),
            ]),
        ),
        j(
            "non-utf8-field-names",
            fields(&[(b"\xff\xfe", b"x"), (b"type\xff", b"rpc")]),
        ),
        j("empty-envelope", rpc("")),
        j("whitespace-envelope", rpc("   \n\t ")),
        j("invalid-json", rpc(r#"{"jsonrpc":"2.0","#)),
        j("json-null", rpc("null")),
        j("json-number", rpc("42")),
        j("json-string", rpc(r#""hello""#)),
        j("json-empty-array", rpc("[]")),
        j("json-batch", rpc(&format!("[{g}]"))),
        j("jsonrpc-1.0", rpc(&g.replace(r#""2.0""#, r#""1.0""#))),
        j(
            "jsonrpc-missing",
            rpc(&g.replace(r#""jsonrpc":"2.0","#, "")),
        ),
        j("jsonrpc-number", rpc(&g.replace(r#""2.0""#, "2.0"))),
        j(
            "response-on-command-stream",
            rpc(r#"{"jsonrpc":"2.0","id":"junk","result":{"n":1}}"#),
        ),
        j(
            "error-response-on-command-stream",
            rpc(r#"{"jsonrpc":"2.0","id":"junk","error":{"code":-32000,"message":"x"}}"#),
        ),
        j(
            "method-missing",
            rpc(r#"{"jsonrpc":"2.0","id":"junk","params":{}}"#),
        ),
        j(
            "method-not-string",
            rpc(r#"{"jsonrpc":"2.0","id":"junk","method":123,"params":{}}"#),
        ),
        j("method-without-dot", rpc(&request("work", "{}"))),
        j(
            "unknown-service",
            rpc(&request("nope.work", &format!(r#"{{"n":{}}}"#, JUNK_N + 1))),
        ),
        j(
            "unknown-method",
            rpc(&request(
                "chaos.nope",
                &format!(r#"{{"n":{}}}"#, JUNK_N + 2),
            )),
        ),
        j(
            "params-wrong-types",
            p(r#"{"n":"one","sleepMs":"x","mode":7}"#),
        ),
        j("params-array", p("[1,2,3]")),
        j("params-null", p("null")),
        j("params-negative-n", p(r#"{"n":-1}"#)),
        j("params-float-n", p(r#"{"n":1.5}"#)),
        j(
            "params-huge-number",
            p(r#"{"n":123456789012345678901234567890123456789,"sleepMs":1e400}"#),
        ),
        j(
            "id-object",
            rpc(&g.replace(r#""id":"junk""#, r#""id":{"a":1}"#)),
        ),
        j("id-null", rpc(&g.replace(r#""id":"junk""#, r#""id":null"#))),
        j("id-float", rpc(&g.replace(r#""id":"junk""#, r#""id":1.5"#))),
        j(
            "id-huge-number",
            rpc(&g.replace(r#""id":"junk""#, r#""id":1e400"#)),
        ),
        j(
            "lone-surrogate-method",
            rpc(&request(r"chaos.\ud800", "{}")),
        ),
        j(
            "lone-surrogate-param",
            p(&format!(r#"{{"n":{JUNK_N},"s":"\udc00"}}"#)),
        ),
        j(
            "duplicate-keys",
            rpc(&g.replace(r#""jsonrpc":"2.0","#, r#""jsonrpc":"2.0","jsonrpc":"1.0","#)),
        ),
        j(
            "duplicate-id",
            rpc(&g.replace(r#""id":"junk","#, r#""id":"junk","id":7,"#)),
        ),
        j("nul-byte", rpc(&nul)),
        j(
            "utf8-bom",
            fields(&[(b"type", b"rpc"), (b"envelope", &bom), (b"reply-to", sink)]),
        ),
        j(
            "extra-top-level-fields",
            rpc(&g.replacen('{', r#"{"extra":{"x":[1,2]},"#, 1)),
        ),
        j(
            "nesting-300-in-params",
            p(&nested(300, r#"{"a":"#, "}", "1")),
        ),
        j(
            "notification-unknown-method",
            rpc(r#"{"jsonrpc":"2.0","method":"chaos.nope","params":{}}"#),
        ),
        j("timeout-ms-not-a-number", timeout_ms(b"abc")),
        j("timeout-ms-negative", timeout_ms(b"-5")),
        j("timeout-ms-huge", timeout_ms(b"99999999999999999999999999")),
        j("reply-to-command-stream", to(t.cmd.as_bytes())),
        j("reply-to-outside-existing-key", to(t.victim.as_bytes())),
        j("reply-to-outside-new-key", to(t.fresh.as_bytes())),
        j("reply-to-wrong-type-key", to(t.wrong_type.as_bytes())),
        j("reply-to-other-command-stream", to(t.other_cmds.as_bytes())),
        j("reply-to-empty", to(b"")),
        j("reply-to-non-utf8", to(b"\xff\xfe")),
        j("reply-to-64KiB", to(huge_reply_to.as_bytes())),
        j(
            "reply-to-missing",
            fields(&[(b"type", b"rpc"), (b"envelope", g.as_bytes())]),
        ),
    ]
}

/// Junk written once each: 10 MB of JSON, 100 000-deep nesting.
fn big_junk(t: &Targets) -> Vec<Junk> {
    let sink = t.sink.as_bytes();
    let rpc = |env: String| {
        fields(&[
            (b"type", b"rpc"),
            (b"envelope", env.as_bytes()),
            (b"reply-to", sink),
        ])
    };
    let pad = "x".repeat(10 * 1024 * 1024);
    vec![
        Junk {
            name: "10MB-valid-request",
            fields: rpc(request(
                "chaos.work",
                &format!(r#"{{"n":{JUNK_N},"pad":"{pad}"}}"#),
            )),
        },
        Junk {
            name: "10MB-invalid-json",
            fields: rpc(format!(r#"{{"jsonrpc":"2.0","pad":"{pad}"#)),
        },
        Junk {
            name: "100k-deep-array-envelope",
            fields: rpc(nested(100_000, "[", "]", "")),
        },
        Junk {
            name: "100k-deep-object-params",
            fields: rpc(request(
                "chaos.work",
                &nested(100_000, r#"{"a":"#, "}", "1"),
            )),
        },
    ]
}

async fn xadd(conn: &mut MultiplexedConnection, key: &str, f: &Fields) -> Result<String, String> {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    for (k, v) in f {
        cmd.arg(k.as_slice()).arg(v.as_slice());
    }
    cmd.query_async::<String>(conn)
        .await
        .map_err(|e| format!("junk XADD: {e}"))
}

/// Writes `total` junk entries (the big ones first, then the kinds in turn) into `key`, in
/// pipelines of `batch` entries, yielding between them so valid traffic interleaves. Returns how
/// many were written.
async fn write_junk(
    url: &str,
    key: &str,
    big: &[Junk],
    kinds: &[Junk],
    total: usize,
    batch: usize,
) -> Result<u64, String> {
    let mut conn = admin(url).await?;
    let mut written = 0;
    for j in big {
        xadd(&mut conn, key, &j.fields)
            .await
            .map_err(|e| format!("{}: {e}", j.name))?;
        written += 1;
    }
    let rest = total.saturating_sub(big.len());
    let mut i = 0;
    while i < rest {
        let n = batch.max(1).min(rest - i);
        let mut pipe = redis::pipe();
        for k in i..i + n {
            let cmd = pipe.cmd("XADD").arg(key).arg("*");
            for (f, v) in &kinds[k % kinds.len()].fields {
                cmd.arg(f.as_slice()).arg(v.as_slice());
            }
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| format!("junk XADD: {e}"))?;
        written += n as u64;
        i += n;
        tokio::task::yield_now().await;
    }
    Ok(written)
}

/// Scenario 6a: junk into the command stream under valid load.
pub(super) async fn junk_command_stream(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let t = Targets::new(&prefix);
    let mut conn = admin(&url).await?;
    let q = |r: redis::RedisResult<()>| r.map_err(|e| e.to_string());
    q(redis::cmd("SET")
        .arg(&t.victim)
        .arg("precious")
        .query_async(&mut conn)
        .await)?;
    q(redis::cmd("HSET")
        .arg(&t.wrong_type)
        .arg("f")
        .arg("v")
        .query_async(&mut conn)
        .await)?;
    let runs = Runs::new(CAP);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    // A group that never reads: legitimate trimming keeps every entry after it, so the stream's
    // length tells whether anything else trimmed it (or wrote replies into it).
    q(redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&t.cmd)
        .arg("chaos-observer")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await)?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let timeout = ctx.secs(5.0, 10.0);
    let load = Load::start(client.clone(), counters.clone(), 16, CAP, move |_| {
        CallSpec::ok(0, timeout)
    });
    let kinds = command_junk(&t);
    let big = big_junk(&t);
    let kind_count = kinds.len() + big.len();
    let total = ctx.pick(3_000, 10_000);
    let written = write_junk(&url, &t.cmd, &big, &kinds, total, 1).await;
    drop(big);
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop().await;
    let written = written?;
    // One more call after the junk: the server is still up.
    let probe = call_one(
        &client,
        &counters,
        CAP - 1,
        CallSpec::ok(0, Duration::from_secs(10)),
    )
    .await;
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    r.check("server-up", probe == CallOutcome::Ok, format!("{probe:?}"));
    r.check(
        "valid-calls-answered",
        r.ok == r.sent,
        format!("{}/{}", r.ok, r.sent),
    );
    let drained = drained(&mut conn, &t.cmd, "chaos", Duration::from_secs(20)).await;
    r.check(
        "group-drained",
        drained.is_ok(),
        drained
            .err()
            .unwrap_or_else(|| "all delivered and acked".into()),
    );
    let victim: (Option<String>, i64) = redis::pipe()
        .cmd("GET")
        .arg(&t.victim)
        .cmd("PTTL")
        .arg(&t.victim)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    r.check(
        "outside-key-untouched",
        victim == (Some("precious".into()), -1),
        format!("value={:?} pttl={}", victim.0, victim.1),
    );
    let wrong: (String, i64, i64) = redis::pipe()
        .cmd("TYPE")
        .arg(&t.wrong_type)
        .cmd("HLEN")
        .arg(&t.wrong_type)
        .cmd("PTTL")
        .arg(&t.wrong_type)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    // A non-stream key at a reply-stream name of this prefix is that request's reply stream:
    // the server may touch it (its XADD is refused, the transaction's PEXPIRE lands), but its
    // content must survive.
    r.check(
        "wrong-type-reply-key-content-kept",
        wrong.0 == "hash" && wrong.1 == 1,
        format!("type={} len={} pttl={}", wrong.0, wrong.1, wrong.2),
    );
    let (xlen, pttl): (u64, i64) = redis::pipe()
        .cmd("XLEN")
        .arg(&t.cmd)
        .cmd("PTTL")
        .arg(&t.cmd)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let expected = written + client.transport().stats().requests;
    r.check(
        "command-stream-intact",
        xlen == expected && pttl == -1,
        format!("xlen={xlen} expected={expected} pttl={pttl}"),
    );
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let replies = format!("{prefix}:replies:");
    let dead = dead_letter_stream(&prefix, crate::service::SERVICE);
    // The server's presence (record, instance and service indexes): its own keys, not junk's.
    let presence = [
        presence_services(&prefix),
        presence_instances(&prefix, crate::service::SERVICE),
    ];
    let records = presence_record(&prefix, crate::service::SERVICE, "");
    let allowed = |k: &str| {
        k == t.cmd
            || k == t.victim
            || k == dead
            || presence.iter().any(|p| p == k)
            || (k.starts_with(&records) && k.len() > records.len())
            || (k.starts_with(&replies) && k.len() > replies.len())
    };
    let foreign: Vec<String> = keys
        .iter()
        .map(|k| String::from_utf8_lossy(k))
        .filter(|k| !allowed(k))
        .map(|k| format!("{:?}", k.chars().take(40).collect::<String>()))
        .collect();
    r.check(
        "no-keys-outside-allowed",
        foreign.is_empty(),
        format!("{} foreign: {}", foreign.len(), foreign.join(" ")),
    );
    let s = server.transport().stats();
    r.note(format!(
        "junk={written} kinds={kind_count} junk-runs={} (unknown-service served {}x, as the peers) \
         server(malformed={} replies={} loop_errors={})",
        runs.get(JUNK_N),
        runs.get(JUNK_N + 1),
        s.malformed,
        s.replies,
        s.loop_errors
    ));
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    Ok(r)
}

/// Waits (polling `XINFO`, at most `within`) until `group` has been delivered the stream's
/// last entry and has nothing pending. (`lag` is not used: Redis cannot count it exactly once
/// a stream was trimmed.)
async fn drained(
    conn: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
    within: Duration,
) -> Result<(), String> {
    type Info = std::collections::HashMap<String, redis::Value>;
    let text = |i: &Info, k: &str| match i.get(k) {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(redis::Value::SimpleString(s)) => s.clone(),
        Some(redis::Value::Int(n)) => n.to_string(),
        other => format!("{other:?}"),
    };
    let deadline = tokio::time::Instant::now() + within;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let info: Info = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(stream)
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let groups: Vec<Info> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async(conn)
            .await
            .map_err(|e| e.to_string())?;
        let newest = text(&info, "last-generated-id");
        if let Some(g) = groups.iter().find(|g| text(g, "name") == group) {
            let (pending, delivered) = (text(g, "pending"), text(g, "last-delivered-id"));
            if pending == "0" && delivered == newest {
                return Ok(());
            }
            last = format!("pending={pending} delivered={delivered} newest={newest}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

/// Junk kinds for a reply stream.
fn reply_junk() -> Vec<Junk> {
    let reply = |env: &str| fields(&[(b"type", b"rpc"), (b"envelope", env.as_bytes())]);
    let j = |name, fields| Junk { name, fields };
    vec![
        j("one-unrelated-field", fields(&[(b"junk", b"1")])),
        j("type-only", fields(&[(b"type", b"rpc")])),
        j(
            "envelope-only",
            fields(&[(b"envelope", br#"{"jsonrpc":"2.0","id":"x","result":1}"#)]),
        ),
        j(
            "non-utf8-envelope",
            fields(&[(b"type", b"rpc"), (b"envelope", b"\xff\xfe")]),
        ),
        j("non-utf8-field-names", fields(&[(b"\xff", b"\xfe")])),
        j("empty-envelope", reply("")),
        j("invalid-json", reply(r#"{"jsonrpc":"#)),
        j("json-null", reply("null")),
        j("json-array", reply("[1,2]")),
        j(
            "json-batch-of-responses",
            reply(r#"[{"jsonrpc":"2.0","id":"x","result":1}]"#),
        ),
        j("request-instead-of-response", reply(&good())),
        j(
            "notification",
            reply(r#"{"jsonrpc":"2.0","method":"chaos.work","params":{}}"#),
        ),
        j(
            "response-unknown-id",
            reply(r#"{"jsonrpc":"2.0","id":"no-such-call","result":{"n":1}}"#),
        ),
        j(
            "response-numeric-id",
            reply(r#"{"jsonrpc":"2.0","id":7,"result":{"n":1}}"#),
        ),
        j(
            "response-null-id",
            reply(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"x"}}"#),
        ),
        j(
            "response-object-id",
            reply(r#"{"jsonrpc":"2.0","id":{"a":1},"result":1}"#),
        ),
        j(
            "response-both-result-and-error",
            reply(r#"{"jsonrpc":"2.0","id":"x","result":1,"error":{"code":1,"message":"x"}}"#),
        ),
        j("response-neither", reply(r#"{"jsonrpc":"2.0","id":"x"}"#)),
        j(
            "error-not-object",
            reply(r#"{"jsonrpc":"2.0","id":"x","error":"boom"}"#),
        ),
        j(
            "error-code-string",
            reply(r#"{"jsonrpc":"2.0","id":"x","error":{"code":"x","message":1}}"#),
        ),
        j(
            "jsonrpc-1.0",
            reply(r#"{"jsonrpc":"1.0","id":"x","result":1}"#),
        ),
        j(
            "lone-surrogate",
            reply(r#"{"jsonrpc":"2.0","id":"\ud800","result":"\udc00"}"#),
        ),
        j(
            "duplicate-keys",
            reply(r#"{"jsonrpc":"2.0","id":"x","id":"y","result":1}"#),
        ),
        j(
            "huge-number",
            reply(r#"{"jsonrpc":"2.0","id":1e400,"result":123456789012345678901234567890}"#),
        ),
        j("nesting-300", reply(&nested(300, "[", "]", ""))),
        j(
            "unknown-type",
            fields(&[
                (b"type", b"bogus"),
                (b"envelope", br#"{"jsonrpc":"2.0","id":"x","result":1}"#),
            ]),
        ),
    ]
}

/// Scenario 6b: junk into a client's reply stream, in floods of 1 500 entries, while 64
/// callers use that client.
pub(super) async fn junk_reply_stream(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let runs = Runs::new(CAP);
    let server = start_server(&url, &prefix, runs.clone(), |o| o).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let timeout = ctx.secs(5.0, 10.0);
    let load = Load::start(client.clone(), counters.clone(), 64, CAP, move |_| {
        CallSpec::ok(0, timeout)
    });
    let kinds = reply_junk();
    let big = vec![
        Junk {
            name: "1MB-response",
            fields: fields(&[
                (b"type", b"rpc"),
                (
                    b"envelope",
                    format!(
                        r#"{{"jsonrpc":"2.0","id":"x","result":"{}"}}"#,
                        "x".repeat(1 << 20)
                    )
                    .as_bytes(),
                ),
            ]),
        },
        Junk {
            name: "100k-deep-nesting",
            fields: fields(&[
                (b"type", b"rpc"),
                (b"envelope", nested(100_000, "[", "]", "").as_bytes()),
            ]),
        },
    ];
    let total = ctx.pick(3_000, 10_000);
    let reply_stream = client.transport().reply_stream().to_owned();
    // In floods of 1 500: more than a reply stream's MAXLEN ~ 1024 lands between two reads.
    let written = write_junk(&url, &reply_stream, &big, &kinds, total, 1_500).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop().await;
    let written = written?;
    let probe = call_one(
        &client,
        &counters,
        CAP - 1,
        CallSpec::ok(0, Duration::from_secs(10)),
    )
    .await;
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    r.check("client-up", probe == CallOutcome::Ok, format!("{probe:?}"));
    // Junk floods push real replies past the server's MAXLEN ~ 1024: those calls must fail at
    // once with `reply lost`, never time out.
    let reply_lost: u64 = r
        .errored
        .iter()
        .filter(|(k, _)| k.starts_with("reply-lost"))
        .map(|(_, v)| *v)
        .sum();
    r.check(
        "real-calls-answered-or-reported-lost",
        r.ok + reply_lost == r.sent,
        format!("{} ok + {reply_lost} reply lost of {}", r.ok, r.sent),
    );
    let c = client.transport().stats();
    r.note(format!(
        "junk={written} kinds={} client(malformed={} unmatched={} loop_errors={})",
        kinds.len() + big.len(),
        c.malformed_replies,
        c.unmatched_replies,
        c.loop_errors
    ));
    client.stop().await;
    server.stop(Duration::from_secs(1)).await;
    drop(redis);
    Ok(r)
}
