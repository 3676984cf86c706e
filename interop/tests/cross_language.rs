//! Every scenario of `interop/scenarios/` in every direction — Rust server/Python client,
//! Python server/Rust client, Rust/Rust, and Python/Python as the harness's control — over one
//! real Redis. Needs redis-server (or REDIS_URL) and python3; fails, never skips, without them.

use std::path::Path;
use std::time::Instant;

use clamator_interop::runner::env::{python_peer, RedisForTests};
use clamator_interop::runner::process::Drivers;
use clamator_interop::runner::{directions, run_one, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_in_every_direction() {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = interop.parent().unwrap();
    let redis = RedisForTests::find_or_start().unwrap_or_else(|e| panic!("{e}"));
    let python = python_peer(workspace).unwrap_or_else(|e| panic!("{e}"));
    let drivers = Drivers {
        python,
        python_dir: interop.join("python"),
        rust_server: env!("CARGO_BIN_EXE_interop-server").into(),
        rust_client: env!("CARGO_BIN_EXE_interop-client").into(),
    };
    let only = std::env::var("INTEROP_ONLY").ok();
    let scenarios = scenario::load_all(&interop.join("scenarios")).unwrap();
    assert!(scenarios.len() >= 14, "scenarios missing");
    let mut failures = Vec::new();
    let mut runs = 0;
    for (path, s) in &scenarios {
        if only.as_deref().is_some_and(|o| !s.name.contains(o)) {
            continue;
        }
        for d in directions(s) {
            let started = Instant::now();
            let outcome = run_one(&redis.url, &drivers, s, &d).await;
            runs += 1;
            let verdict = if outcome.is_ok() { "ok" } else { "FAIL" };
            println!(
                "{verdict:4} {:32} {:34} {:>6} ms",
                s.name,
                d.label(),
                started.elapsed().as_millis()
            );
            if let Err(errors) = outcome {
                failures.push(format!(
                    "{} [{}]:\n  {}",
                    path.display(),
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
}
