//! Every scenario of `interop/scenarios/` in every direction — Rust server/Python client,
//! Python server/Rust client, Rust/Rust, and Python/Python as the harness's control — over one
//! real Redis, again on a Redis Cluster (3 primaries + 3 replicas; the drivers' `redisCluster`
//! key, the Python peer on `redis.asyncio.RedisCluster`), and a subset over TLS with a private CA (the drivers' `rediss://` `redisUrl` and
//! `tlsCaFile` keys). Needs redis-server (or REDIS_URL) and python3; fails, never skips,
//! without them.

use std::path::Path;
use std::time::Instant;

use clamator::redis::testing::{RedisCluster, TestPki};
use clamator_interop::runner::env::{python_peer, RedisForTests};
use clamator_interop::runner::process::Drivers;
use clamator_interop::runner::target::Target;
use clamator_interop::runner::{directions, run_one, scenario};

fn drivers() -> Drivers {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = python_peer(interop.parent().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    Drivers {
        python,
        python_dir: interop.join("python"),
        rust_server: env!("CARGO_BIN_EXE_interop-server").into(),
        rust_client: env!("CARGO_BIN_EXE_interop-client").into(),
    }
}

/// Runs the scenarios whose names `pick` accepts (and `INTEROP_ONLY`, when set, names) in every
/// direction on `target`; panics listing every failed run.
async fn run_suite(target: &Target, pick: impl Fn(&str) -> bool) -> usize {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
    let drivers = drivers();
    let only = std::env::var("INTEROP_ONLY").ok();
    let scenarios = scenario::load_all(&interop.join("scenarios")).unwrap();
    assert!(scenarios.len() >= 14, "scenarios missing");
    let mut failures = Vec::new();
    let mut runs = 0;
    for (path, s) in &scenarios {
        if !pick(&s.name) || only.as_deref().is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        for d in directions(s) {
            let started = Instant::now();
            let outcome = run_one(target, &drivers, s, &d).await;
            runs += 1;
            let verdict = if outcome.is_ok() { "ok" } else { "FAIL" };
            println!(
                "{verdict:4} {:7} {:32} {:34} {:>6} ms",
                target.label(),
                s.name,
                d.label(),
                started.elapsed().as_millis()
            );
            if let Err(errors) = outcome {
                failures.push(format!(
                    "{} [{}, {}]:\n  {}",
                    path.display(),
                    target.label(),
                    d.label(),
                    errors.join("\n  ")
                ));
            }
        }
    }
    assert!(runs > 0, "no scenario ran");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_in_every_direction() {
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    run_suite(&Target::single(&redis.url), |_| true).await;
}

/// TLS changes only how the drivers connect, so a few scenarios cover it: a plain call, errors,
/// a notification, and a worker pool (several connections per driver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_private_ca() {
    let pki = TestPki::generate().unwrap_or_else(|e| panic!("{e}"));
    let redis = pki.start_redis(false).unwrap_or_else(|e| panic!("{e}"));
    assert!(redis.url().starts_with("rediss://"));
    let target = Target::single(redis.url()).with_tls_ca_file(pki.ca_file());
    let picked = [
        "basic call",
        "error mapping",
        "notification fire-and-forget",
        "worker pool fairness",
    ];
    let runs = run_suite(&target, |name| picked.contains(&name)).await;
    assert!(runs >= picked.len() * 4, "only {runs} runs");
}

/// The whole suite on a cluster: command streams, reply streams and the runner's keys land on
/// different nodes, and both languages route every command to its slot's owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_in_every_direction_on_a_cluster() {
    let mut cluster = RedisCluster::start().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cluster.wait_healthy(std::time::Duration::from_secs(30)),
        "cluster not healthy"
    );
    run_suite(&Target::cluster(cluster.seed_urls()), |_| true).await;
}
