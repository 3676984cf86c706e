//! `clamator-chaos`: the fault-injection suite of the clamator Redis transport.
//!
//! ```text
//! clamator-chaos [--quick] [--only <substring>] [--json <file>]
//! ```
//!
//! Starts its own `redis-server`s on loopback ports, runs every scenario (one line each), prints
//! a table, optionally writes a JSON summary, and exits 1 when a threshold is violated (a call
//! lost or answered wrongly, a handler run twice where at-least-once does not allow it, a failed
//! scenario check, RSS growth ≥ 10 % in the soak). See `chaos/README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod load;
mod redis_proc;
mod report;
mod scenarios;
mod service;

use std::process::ExitCode;

use report::{ScenarioJson, Summary};

struct Args {
    quick: bool,
    only: Vec<String>,
    json: Option<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        only: Vec::new(),
        json: None,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--only" => args.only.push(it.next().ok_or("--only needs a value")?),
            "--json" => args.json = Some(it.next().ok_or("--json needs a file")?),
            "-h" | "--help" => {
                return Err(
                    "usage: clamator-chaos [--quick] [--only <substring>]... [--json <file>]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    service::install_panic_hook();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("serve") {
        return match service::serve_child(&argv[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("serve: {e}");
                ExitCode::from(2)
            }
        };
    }
    let args = match parse_args(argv.into_iter()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = scenarios::Ctx {
        quick: args.quick,
        exe,
    };
    let selected: Vec<_> = scenarios::all()
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    if selected.is_empty() {
        eprintln!("no scenario matches {:?}", args.only);
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if ctx.quick { "quick" } else { "full" };
    println!(
        "clamator-chaos ({mode}): {} scenario(s); lost = no answer within call timeout + {} s",
        selected.len(),
        load::LOST_MARGIN.as_secs()
    );
    let results: Vec<_> = rt.block_on(async {
        let mut results = Vec::new();
        for s in &selected {
            let r = scenarios::run(s, &ctx).await;
            println!("{}", r.line());
            results.push(r);
        }
        results
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    println!();
    print!("{}", report::table(&results));
    let passed = results.iter().all(|r| r.violations().is_empty());
    if let Some(path) = &args.json {
        let summary = Summary {
            mode,
            passed,
            scenarios: results
                .iter()
                .map(|r| ScenarioJson {
                    result: r,
                    violations: r.violations(),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::from(2);
        }
    }
    if passed {
        println!("chaos: all thresholds held");
        ExitCode::SUCCESS
    } else {
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !r.violations().is_empty())
            .map(|r| r.name.as_str())
            .collect();
        println!("chaos: thresholds violated in {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
