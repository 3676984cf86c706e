//! Faults of RPC servers: a server SIGKILLed with 200 slow calls in flight and a second one
//! taking over; handlers slower than the claim idle time with two live servers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{count_runs, prefix, start_client, Ctx, Outcome, CAP};
use crate::load::{CallSpec, Counters, Load};
use crate::redis_proc::{Persistence, RedisProc};
use crate::report::ScenarioResult;
use crate::service::{start_server, Runs};

/// Scenario 5: server A (a child process) runs 200 calls of 2 s, is SIGKILLed while they are
/// all inside handlers, then server B starts and must answer every one after the claim idle
/// time (3 s). Runs > 1 are allowed only for numbers A had started.
pub(super) async fn server_kill_takeover(ctx: &Ctx, name: &'static str) -> Outcome {
    const CALLS: u64 = 200;
    const CLAIM_IDLE: Duration = Duration::from_secs(3);
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let mut child = Command::new(&ctx.exe)
        .args(["serve", &url, &prefix, &CLAIM_IDLE.as_millis().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the serve child: {e}"))?;
    // The child's lines (`READY`, `ran <n>`) are forwarded from a reader thread.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.recv()).await;
    if !matches!(&ready, Ok(Some(l)) if l == "READY") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("serve child not ready: {ready:?}"));
    }
    let runs_a = Runs::new(CALLS);
    let runs_b = Runs::new(CALLS);
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let load = Load::start(
        client.clone(),
        counters.clone(),
        CALLS as usize,
        CALLS,
        |_| CallSpec::ok(2000, Duration::from_secs(30)),
    );
    // Wait for all 200 handlers to have started on A, then kill it.
    let mut started = 0;
    let all_started = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.recv().await {
            if let Some(n) = line.strip_prefix("ran ").and_then(|n| n.parse().ok()) {
                runs_a.bump(n);
                started += 1;
                if started == CALLS {
                    break;
                }
            }
        }
    })
    .await
    .is_ok();
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    while let Ok(line) = lines.try_recv() {
        if let Some(n) = line.strip_prefix("ran ").and_then(|n| n.parse().ok()) {
            runs_a.bump(n);
        }
    }
    let server_b = start_server(&url, &prefix, runs_b.clone(), |o| {
        o.with_claim_idle(CLAIM_IDLE)
    })
    .await?;
    counters.fault_ended();
    load.finish().await;

    let mut r = ScenarioResult::new(name);
    r.ran_twice_allowed = true;
    r.absorb(&counters);
    let mut twice = 0;
    let mut twice_not_a = Vec::new();
    for n in 0..CALLS {
        let (a, b) = (runs_a.get(n), runs_b.get(n));
        if a + b > 1 {
            twice += 1;
            if a == 0 {
                twice_not_a.push(n);
            }
        }
    }
    r.ran_twice = twice;
    r.check(
        "all-200-started-on-A",
        all_started,
        format!(
            "{} started",
            (0..CALLS).filter(|n| runs_a.get(*n) > 0).count()
        ),
    );
    r.check(
        "every-call-answered",
        r.ok == CALLS,
        format!("{}/{CALLS}", r.ok),
    );
    r.check(
        "ran>1-only-for-A's-entries",
        twice_not_a.is_empty(),
        format!("{} others", twice_not_a.len()),
    );
    let s = server_b.transport().stats();
    r.note(format!(
        "B(reclaimed={} replies={} deleted_pending={})",
        s.reclaimed, s.replies, s.deleted_pending
    ));
    client.stop().await;
    server_b.stop(Duration::from_secs(1)).await;
    Ok(r)
}

/// Scenario 9: two live servers with claim idle 1 s and handlers of 3 s; 64 callers. A live
/// server refreshes its running entries, so nothing should run twice.
pub(super) async fn slow_handlers_two_servers(ctx: &Ctx, name: &'static str) -> Outcome {
    let redis = RedisProc::start(Persistence::None, &[])?;
    let url = redis.url();
    let prefix = prefix(name);
    let runs = Runs::new(CAP);
    let claim =
        |o: clamator_over_redis::RedisServerOptions| o.with_claim_idle(Duration::from_secs(1));
    let s1 = start_server(&url, &prefix, runs.clone(), claim).await?;
    let s2 = start_server(&url, &prefix, runs.clone(), claim).await?;
    let client = start_client(&url, &prefix, |o| o).await?;
    let counters = Counters::new();
    let callers = 64;
    let rounds = ctx.pick(2, 8);
    let total = callers * rounds;
    let load = Load::start(
        client.clone(),
        counters.clone(),
        callers as usize,
        total,
        |_| CallSpec::ok(3000, Duration::from_secs(30)),
    );
    load.finish().await;
    let mut r = ScenarioResult::new(name);
    r.absorb(&counters);
    count_runs(&mut r, &runs, CAP);
    r.check(
        "every-call-answered-once",
        r.ok == total && r.ran_twice == 0,
        format!("{}/{total} answered", r.ok),
    );
    let (a, b) = (s1.transport().stats(), s2.transport().stats());
    r.note(format!(
        "reclaimed={} refreshed={} dispatched={}+{}",
        a.reclaimed + b.reclaimed,
        a.refreshed + b.refreshed,
        a.dispatched,
        b.dispatched
    ));
    client.stop().await;
    s1.stop(Duration::from_secs(1)).await;
    s2.stop(Duration::from_secs(1)).await;
    Ok(r)
}
