//! `clamator-bench`: this project against the clamator 0.1.9 Python peer on one private Redis,
//! with a raw Redis floor.
//!
//! ```text
//! cargo run --release -p clamator-bench -- [--quick] [--json out.json]
//! ```
//!
//! Layout of a run (identical for every side):
//!
//! * one private `redis-server` on a free loopback port (no persistence);
//! * per side one server **process** serving `arith` on its own key prefix (`bench-rs`:
//!   `clamator-bench serve` with `RedisRpcServer` defaults; `bench-py`: `bench_peer.py serve`
//!   with `RedisRpcServer` defaults; `bench-raw`: `clamator-bench raw-serve`, the floor), and a
//!   second one of each for the 2-server rows;
//! * per side one client in one client process (Rust and floor: this process; Python:
//!   `bench_peer.py client`, with a redis-py pool of 4096 connections), reused by every
//!   workload; the memory rows run server and client in that same client process;
//! * each workload runs floor, then Rust, then Python, back to back: `concurrency` workers each
//!   with one call in flight, a warm-up phase, then a measured phase bounded by time and count.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod deployment;
mod load;
mod observe;
mod procs;
mod raw;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator_interop::contracts::{AddParams, ArithContract, Text};
use clamator_interop::handlers::{self, Counters};
use clamator_over_memory::{MemoryBus, MemoryRpcClient, MemoryRpcServer};
use clamator_over_redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clap::{Parser, Subcommand};
use serde_json::json;
use tokio::io::AsyncReadExt;

use load::{Call, Sample, Transport, Workload};
use procs::LineChild;
use raw::RawClient;
use report::{Results, Side};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PREFIX_RUST: &str = "bench-rs";
const PREFIX_PY: &str = "bench-py";
const PREFIX_RAW: &str = "bench-raw";

/// Benchmarks of this project against the clamator 0.1.9 Python peer and a raw Redis floor.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Short phases (0.3 s warm-up, 1.5 s measured): the whole run takes about a minute.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The Redis to measure against: one server (default), one TLS server, a 3-primary
    /// cluster, or a primary with a replica and replicated writes (the last two: Rust side
    /// only).
    #[arg(long, value_enum, default_value = "single")]
    redis: deployment::Kind,
    /// Skip the Python peer (Rust and floor only).
    #[arg(long)]
    no_python: bool,
    /// Run only these workloads (comma-separated names, e.g. add_c128,mem_add_c1).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Sides to run (floor, rust, python); all by default. For profiling one side at a time.
    #[arg(long, value_delimiter = ',')]
    sides: Vec<String>,
    /// Measured seconds per workload (overrides the mode's default).
    #[arg(long)]
    duration: Option<f64>,
    /// Tokio worker threads of the client process (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Tokio worker threads of each Rust server process (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// `RedisServerOptions::read_count` of the Rust servers (default: the library's).
    #[arg(long)]
    server_read_count: Option<usize>,
    /// `RedisServerOptions::max_concurrent_handlers` of the Rust servers (default: the
    /// library's).
    #[arg(long)]
    server_max_handlers: Option<usize>,
    /// Tracing (an `info` subscriber writing to a sink) and metrics (the Prometheus recorder)
    /// on, in the client process and the Rust servers: the cost of observability. Needs the
    /// bench built with `--features metrics`.
    #[arg(long)]
    observe: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve `arith` with `RedisRpcServer` (defaults) until stdin closes.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        url: String,
        #[arg(long)]
        prefix: String,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long)]
        read_count: Option<usize>,
        #[arg(long)]
        max_handlers: Option<usize>,
        #[arg(long)]
        observe: bool,
    },
    /// Serve the raw floor until stdin closes.
    #[command(hide = true)]
    RawServe {
        #[arg(long)]
        url: String,
        #[arg(long)]
        prefix: String,
    },
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// Resolves when stdin reaches end of file (the parent closed it or exited).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Tuning of the Rust servers; `None` keeps the library's default.
#[derive(Debug, Clone, Copy)]
struct ServerTuning {
    threads: usize,
    read_count: Option<usize>,
    max_handlers: Option<usize>,
}

fn serve(url: &str, prefix: &str, tuning: ServerTuning) -> Result<(), BoxError> {
    runtime(tuning.threads)?.block_on(async {
        let mut opts = RedisServerOptions::new(prefix).with_connection(deployment::connection(url));
        if let Some(n) = tuning.read_count {
            opts = opts.with_read_count(n);
        }
        if let Some(n) = tuning.max_handlers {
            opts = opts.with_max_concurrent_handlers(n);
        }
        let server = RedisRpcServer::new(opts);
        server.register_service(handlers::arith(Arc::new(Counters::default())))?;
        server.start().await?;
        println!("READY");
        stdin_closed().await;
        server.stop(Duration::from_secs(1)).await;
        Ok(())
    })
}

fn raw_serve(url: &str, prefix: &str) -> Result<(), BoxError> {
    runtime(1)?.block_on(async {
        let client = redis::Client::open(url)?;
        raw::serve(&client, prefix, stdin_closed()).await?;
        Ok(())
    })
}

fn workloads(cli: &Cli) -> Vec<Workload> {
    let (warmup_s, default_duration) = if cli.quick { (0.3, 1.5) } else { (1.0, 6.0) };
    let duration_s = cli.duration.unwrap_or(default_duration);
    let all = [
        ("add_seq", Transport::Redis, Call::Add, 0, 1),
        ("add_c16", Transport::Redis, Call::Add, 0, 16),
        ("add_c128", Transport::Redis, Call::Add, 0, 128),
        ("add_c1024", Transport::Redis, Call::Add, 0, 1024),
        ("echo_1k_c16", Transport::Redis, Call::Echo, 1024, 16),
        ("echo_64k_c16", Transport::Redis, Call::Echo, 65536, 16),
        ("pool2_add_c128", Transport::Redis, Call::Add, 0, 128),
        ("mem_add_c1", Transport::Memory, Call::Add, 0, 1),
        ("mem_add_c128", Transport::Memory, Call::Add, 0, 128),
    ];
    all.into_iter()
        .filter(|(name, ..)| cli.only.is_empty() || cli.only.iter().any(|o| o == name))
        .map(|(name, transport, method, payload, concurrency)| Workload {
            name: name.to_owned(),
            transport,
            method,
            payload,
            concurrency,
            warmup_s,
            duration_s,
            max_calls: 5_000_000,
        })
        .collect()
}

/// Everything of one side that lives in the client process.
struct RustSide {
    lib: RedisRpcClient,
    /// `None` on a cluster (the floor speaks to one node).
    raw: Option<RawClient>,
    mem_client: MemoryRpcClient,
    _mem_server: MemoryRpcServer,
}

impl RustSide {
    async fn start(url: &str, with_floor: bool) -> Result<Self, BoxError> {
        let lib = RedisRpcClient::new(
            RedisClientOptions::new(PREFIX_RUST).with_connection(deployment::connection(url)),
        );
        lib.start().await?;
        let raw = if with_floor {
            Some(RawClient::start(&redis::Client::open(url)?, PREFIX_RAW).await?)
        } else {
            None
        };
        let bus = MemoryBus::new();
        let mem_server = bus.server();
        mem_server.register_service(handlers::arith(Arc::new(Counters::default())))?;
        mem_server.start().await?;
        let mem_client = bus.client();
        mem_client.start().await?;
        // Sanity: every path answers correctly before anything is timed.
        let p = AddParams { a: 1.0, b: 2.0 };
        if lib.call(ArithContract::ADD, &p).await?.sum != 3.0
            || mem_client.call(ArithContract::ADD, &p).await?.sum != 3.0
        {
            return Err("wrong sum".into());
        }
        if let Some(raw) = &raw {
            raw.call("add", r#"{"a":1,"b":2}"#).await?;
        }
        Ok(Self {
            lib,
            raw,
            mem_client,
            _mem_server: mem_server,
        })
    }

    async fn run(&self, w: &Workload, side: Side) -> Sample {
        let add = AddParams { a: 1.0, b: 2.0 };
        let text = Text {
            text: "x".repeat(w.payload),
        };
        let (method, params_json) = match w.method {
            Call::Add => ("add", r#"{"a":1,"b":2}"#.to_owned()),
            Call::Echo => ("echoText", json!({ "text": text.text }).to_string()),
        };
        let err = |e: clamator_protocol::Error| e.to_string();
        match (side, w.transport, w.method) {
            (Side::Floor, ..) => {
                let raw = self
                    .raw
                    .as_ref()
                    .expect("the floor runs only where it started");
                load::run(w, || raw.call(method, &params_json)).await
            }
            (_, Transport::Redis, Call::Add) => {
                load::run(w, || async {
                    self.lib
                        .call(ArithContract::ADD, &add)
                        .await
                        .map(drop)
                        .map_err(err)
                })
                .await
            }
            (_, Transport::Redis, Call::Echo) => {
                load::run(w, || async {
                    self.lib
                        .call(ArithContract::ECHO_TEXT, &text)
                        .await
                        .map(drop)
                        .map_err(err)
                })
                .await
            }
            (_, Transport::Memory, Call::Add) => {
                load::run(w, || async {
                    self.mem_client
                        .call(ArithContract::ADD, &add)
                        .await
                        .map(drop)
                        .map_err(err)
                })
                .await
            }
            (_, Transport::Memory, Call::Echo) => {
                load::run(w, || async {
                    self.mem_client
                        .call(ArithContract::ECHO_TEXT, &text)
                        .await
                        .map(drop)
                        .map_err(err)
                })
                .await
            }
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd).args(args).output().map_or_else(
        |e| format!("unavailable ({e})"),
        |o| {
            let mut s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s.is_empty() {
                s = String::from_utf8_lossy(&o.stderr).trim().to_owned();
            }
            s
        },
    )
}

fn proc_line(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn environment(python: Option<&Path>) -> serde_json::Value {
    let py = python.map(|p| {
        let p = p.to_string_lossy().into_owned();
        (
            command_output(&p, &["--version"]),
            command_output(
                &p,
                &[
                    "-c",
                    "import importlib.metadata as m; print(' '.join(f'{n}=={m.version(n)}' for n in \
                     ('clamator-protocol','clamator-over-redis','clamator-over-memory','redis','pydantic')))",
                ],
            ),
        )
    });
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        "cpu": proc_line("/proc/cpuinfo", "model name"),
        "memory": proc_line("/proc/meminfo", "MemTotal"),
        "kernel": command_output("uname", &["-sr"]),
        "rustc": command_output("rustc", &["--version"]),
        "redis_server": command_output("redis-server", &["--version"]),
        "python": py.as_ref().map(|p| p.0.clone()),
        "python_packages": py.map(|p| p.1),
    })
}

fn fmt_sample(s: Option<&Sample>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.errors > 0 => format!(
            "{:.0}/s p50 {:.3} ms ({} errors: {})",
            s.calls_per_s,
            s.p50_ms,
            s.errors,
            s.first_error.as_deref().unwrap_or("")
        ),
        Some(s) => format!("{:.0}/s p50 {:.3} ms", s.calls_per_s, s.p50_ms),
    }
}

/// The servers of each side for one key prefix.
struct Servers(Vec<LineChild>);

fn start_servers(
    cli: &Cli,
    url: &str,
    python: Option<&(PathBuf, PathBuf, PathBuf)>,
    with_floor: bool,
) -> Result<Servers, BoxError> {
    let exe = std::env::current_exe()?;
    let ready = Duration::from_secs(60);
    let mut rs = Command::new(&exe);
    rs.args(["serve", "--url", url, "--prefix", PREFIX_RUST, "--threads"])
        .arg(cli.server_threads.to_string());
    if let Some(n) = cli.server_read_count {
        rs.arg("--read-count").arg(n.to_string());
    }
    if let Some(n) = cli.server_max_handlers {
        rs.arg("--max-handlers").arg(n.to_string());
    }
    if cli.observe {
        rs.arg("--observe");
    }
    let mut out = vec![LineChild::spawn("rust server", rs, ready)?];
    if with_floor {
        let mut raw = Command::new(&exe);
        raw.args(["raw-serve", "--url", url, "--prefix", PREFIX_RAW]);
        out.push(LineChild::spawn("raw server", raw, ready)?);
    }
    if let Some((py, script, pythonpath)) = python {
        let mut cmd = Command::new(py);
        cmd.arg(script)
            .args(["serve", url, PREFIX_PY])
            .env("PYTHONPATH", pythonpath);
        out.push(LineChild::spawn("python server", cmd, ready)?);
    }
    Ok(Servers(out))
}

fn trim_streams(rt: &tokio::runtime::Runtime, url: &str) -> Result<(), BoxError> {
    rt.block_on(async {
        let mut conn = redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?;
        for p in [PREFIX_RUST, PREFIX_PY, PREFIX_RAW] {
            let _: redis::Value = redis::cmd("XTRIM")
                .arg(format!("{p}:cmds:arith"))
                .arg("MAXLEN")
                .arg(0)
                .query_async(&mut conn)
                .await?;
        }
        Ok::<_, BoxError>(())
    })
}

fn run(cli: &Cli) -> Result<(), BoxError> {
    let began = Instant::now();
    let load_before = loadavg();
    let workspace = workspace_root();
    let redis_server = deployment::Deployment::start(cli.redis)?;
    let rust_only = redis_server.rust_only();
    let python = if cli.no_python || cli.redis != deployment::Kind::Single {
        None
    } else {
        let py = clamator_interop::runner::env::python_peer(&workspace)?;
        Some((
            py,
            workspace.join("bench").join("python").join("bench_peer.py"),
            workspace.join("interop").join("python"),
        ))
    };
    let env = environment(python.as_ref().map(|p| p.0.as_path()));
    eprintln!("environment: {env}\nload average before: {load_before}");
    let url = redis_server.url();
    let rt = runtime(cli.client_threads)?;
    let mut servers = start_servers(cli, &url, python.as_ref(), !rust_only)?;
    let mut pool: Option<Servers> = None;
    let side = rt.block_on(RustSide::start(&url, !rust_only))?;
    let mut py_client = match &python {
        Some((py, script, pythonpath)) => {
            let mut cmd = Command::new(py);
            cmd.arg(script)
                .args(["client", &url, PREFIX_PY])
                .env("PYTHONPATH", pythonpath);
            Some(LineChild::spawn(
                "python client",
                cmd,
                Duration::from_secs(60),
            )?)
        }
        None => None,
    };
    let list = workloads(cli);
    let mut results = Results::new();
    for w in &list {
        if w.name.starts_with("pool2") && pool.is_none() {
            pool = Some(start_servers(cli, &url, python.as_ref(), !rust_only)?);
        }
        let mut got = BTreeMap::new();
        let wanted = |s: &str| cli.sides.is_empty() || cli.sides.iter().any(|x| x == s);
        if w.transport == Transport::Redis && wanted("floor") && !rust_only {
            got.insert(Side::Floor, rt.block_on(side.run(w, Side::Floor)));
        }
        if wanted("rust") {
            got.insert(Side::Rust, rt.block_on(side.run(w, Side::Rust)));
        }
        if let Some(pc) = py_client.as_mut().filter(|_| wanted("python")) {
            pc.send_line(&serde_json::to_string(w)?)?;
            let budget = Duration::from_secs_f64(w.warmup_s + w.duration_s + 120.0);
            let line = pc.next_line(budget)?;
            let sample: Sample = serde_json::from_str(&line)
                .map_err(|e| format!("python client answered {line:?}: {e}"))?;
            got.insert(Side::Python, sample);
        }
        eprintln!(
            "[{:6.1}s] {:<15} floor {} | rust {} | python {}",
            began.elapsed().as_secs_f64(),
            w.name,
            fmt_sample(got.get(&Side::Floor)),
            fmt_sample(got.get(&Side::Rust)),
            fmt_sample(got.get(&Side::Python)),
        );
        results.insert(w.name.clone(), got);
        if w.transport == Transport::Redis && !rust_only {
            trim_streams(&rt, &url)?;
        }
    }
    if let Some(pc) = py_client.take() {
        pc.stop();
    }
    rt.block_on(async {
        side.lib.stop().await;
        side.mem_client.stop().await;
    });
    drop(side);
    for s in pool.into_iter().chain(std::iter::once(std::mem::replace(
        &mut servers,
        Servers(Vec::new()),
    ))) {
        s.0.into_iter().for_each(LineChild::stop);
    }
    drop(rt);
    drop(redis_server);
    let load_after = loadavg();

    let rows = report::rows(&results);
    let targets = report::targets(&rows);
    println!(
        "\n## clamator-bench ({} run, {:.0} s, load average before {load_before}, after {load_after})\n",
        if cli.quick { "quick" } else { "full" },
        began.elapsed().as_secs_f64()
    );
    println!("{}", report::markdown(&rows));
    println!("| target | this run | met |\n|---|---|---|");
    for t in &targets {
        println!(
            "| {} | {} | {} |",
            t.target,
            t.measured,
            if t.met { "yes" } else { "no" }
        );
    }
    if cli.observe {
        // The recorder really holds the series: render them as a scrape would.
        eprintln!(
            "observe: Prometheus exposition {} bytes",
            observe::rendered_len()
        );
    }
    if let Some(path) = &cli.json {
        let doc = json!({
            "mode": if cli.quick { "quick" } else { "full" },
            "elapsed_s": began.elapsed().as_secs_f64(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "client_threads": cli.client_threads,
            "server_threads": cli.server_threads,
            "observe": cli.observe,
            "environment": env,
            "workloads": list,
            "results": results,
            "rows": rows,
            "targets": targets,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Some(Cmd::Serve {
            url,
            prefix,
            threads,
            read_count,
            max_handlers,
            observe,
        }) => (if *observe { observe::install() } else { Ok(()) }).and_then(|()| {
            serve(
                url,
                prefix,
                ServerTuning {
                    threads: *threads,
                    read_count: *read_count,
                    max_handlers: *max_handlers,
                },
            )
        }),
        Some(Cmd::RawServe { url, prefix }) => raw_serve(url, prefix),
        None => (if cli.observe {
            observe::install()
        } else {
            Ok(())
        })
        .and_then(|()| run(&cli)),
    };
    if let Err(e) = result {
        eprintln!("clamator-bench: {e}");
        std::process::exit(1);
    }
}
