//! Gateway overhead: `arith.add` over HTTP → gateway → Redis → server, against the same call
//! made directly on the bus, at 16 and 128 concurrent callers.
//!
//! ```text
//! cargo run --release -p clamator-gateway --example gateway_bench [-- --duration 3]
//! ```
//!
//! One private `redis-server` (the interop suite's `RedisForTests`, or `REDIS_URL`); the server
//! (interop `arith` handlers, `RedisRpcServer` with default options, current-thread runtime) and
//! the gateway (`arith_gateway`'s typed registration, multi-thread runtime) are separate
//! processes (this binary re-run with `serve` / `gateway`). The load generator is this process,
//! current-thread: for "bus", one `RedisRpcClient` with `c` callers; for "http", a reqwest client
//! with `c` callers (keep-alive connections). Each workload: 0.5 s warm-up, then `--duration`.
#![forbid(unsafe_code)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamator::redis::{RedisClientOptions, RedisRpcClient, RedisRpcServer, RedisServerOptions};
use clamator::AnyClient;
use clamator_interop::contracts::{AddParams, ArithContract};
use clamator_interop::runner::env::RedisForTests;
use clap::{Parser, Subcommand};
use futures_util::future::join_all;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Seconds measured per workload.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Tokio worker threads of the gateway process (1 = current-thread runtime).
    #[arg(long, default_value_t = 2)]
    gateway_threads: usize,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Serve `arith` (internal).
    Serve {
        #[arg(long)]
        redis_url: String,
        #[arg(long)]
        prefix: String,
    },
    /// Run the gateway (internal).
    Gateway {
        #[arg(long)]
        redis_url: String,
        #[arg(long)]
        prefix: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        threads: usize,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.role {
        Some(Role::Serve { redis_url, prefix }) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(serve(redis_url, prefix)),
        Some(Role::Gateway {
            redis_url,
            prefix,
            port,
            threads,
        }) => {
            let runtime = if threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()?
            };
            runtime.block_on(gateway(redis_url, prefix, port))
        }
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(drive(
                Duration::from_secs_f64(args.duration),
                args.gateway_threads,
            )),
    }
}

async fn serve(redis_url: String, prefix: String) -> Result<(), Box<dyn std::error::Error>> {
    let server = RedisRpcServer::new(RedisServerOptions::new(prefix).with_redis_url(redis_url));
    server.register_service(clamator_interop::handlers::arith(Default::default()))?;
    server.start().await?;
    println!("READY");
    wait_for_stdin_close().await;
    server.stop(Duration::from_secs(1)).await;
    Ok(())
}

async fn gateway(
    redis_url: String,
    prefix: String,
    port: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    let client: AnyClient =
        RedisRpcClient::new(RedisClientOptions::new(prefix).with_redis_url(redis_url)).into();
    client.start().await?;
    let app = clamator_gateway::Gateway::builder(client.clone())
        .method(ArithContract::ADD)
        .method(ArithContract::ECHO_TEXT)
        .build()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("READY");
    axum::serve(listener, app)
        .with_graceful_shutdown(wait_for_stdin_close())
        .await?;
    client.stop().await;
    Ok(())
}

/// The parent holds our stdin; its end closing (exit, crash) stops us.
async fn wait_for_stdin_close() {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    let mut stdin = tokio::io::stdin();
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

struct Child {
    child: tokio::process::Child,
}

impl Child {
    async fn spawn(args: &[String]) -> Result<Self, Box<dyn std::error::Error>> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if line.contains("READY") {
                return Ok(Self { child });
            }
        }
        Err(format!("{args:?} exited before READY").into())
    }

    /// User + system CPU time of the process so far (Linux `/proc`; zero elsewhere).
    fn cpu(&self) -> Duration {
        self.child.id().map_or(Duration::ZERO, cpu_of)
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

struct Figures {
    calls: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&mut self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

/// `c` callers, each with one call in flight, for `warmup` then `measure`.
async fn run<F, Fut>(c: usize, warmup: Duration, measure: Duration, call: F) -> Figures
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let call = &call;
    let phase = |length: Duration| async move {
        let end = Instant::now() + length;
        let started = Instant::now();
        let workers = (0..c).map(|_| async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < end {
                let t = Instant::now();
                if call().await {
                    latencies.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
        let results = join_all(workers).await;
        let elapsed = started.elapsed();
        let mut figures = Figures {
            calls: 0,
            errors: 0,
            elapsed,
            latencies: Vec::new(),
        };
        for (l, e) in results {
            figures.calls += l.len();
            figures.errors += e;
            figures.latencies.extend(l);
        }
        figures
    };
    let _ = phase(warmup).await;
    phase(measure).await
}

async fn drive(
    measure: Duration,
    gateway_threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let redis = RedisForTests::find_or_start()?;
    let prefix = format!("gw-bench-{}", uuid_like());
    let server = Child::spawn(&[
        "serve".into(),
        "--redis-url".into(),
        redis.url.clone(),
        "--prefix".into(),
        prefix.clone(),
    ])
    .await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let gateway = Child::spawn(&[
        "gateway".into(),
        "--redis-url".into(),
        redis.url.clone(),
        "--prefix".into(),
        prefix.clone(),
        "--port".into(),
        port.to_string(),
        "--threads".into(),
        gateway_threads.to_string(),
    ])
    .await?;

    let bus = Arc::new(RedisRpcClient::new(
        RedisClientOptions::new(prefix.clone()).with_redis_url(redis.url.clone()),
    ));
    bus.start().await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("http://127.0.0.1:{port}/rpc/arith/add");
    let params = AddParams { a: 1.0, b: 2.0 };
    let warmup = Duration::from_millis(500);

    let mut cpu_notes = Vec::new();
    println!("| path | c | calls/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for c in [16usize, 128] {
        let me = std::process::id();
        let self_before = cpu_of(me);
        let mut direct = run(c, warmup, measure, || async {
            bus.call(ArithContract::ADD, &params).await.is_ok()
        })
        .await;
        let direct_self = cpu_of(me) - self_before;
        let (gw_before, server_before, self_before) = (gateway.cpu(), server.cpu(), cpu_of(me));
        let mut over_http = run(c, warmup, measure, || async {
            match http.post(&url).json(&params).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
        // CPU per call (warm-up included in the time, so divide by its calls too: roughly).
        let per_call = |d: Duration, f: &Figures| {
            let warm = f.rate() * warmup.as_secs_f64();
            d.as_secs_f64() * 1e6 / (f.calls as f64 + warm)
        };
        let http_self = per_call(cpu_of(me) - self_before, &over_http);
        let direct_self = per_call(direct_self, &direct);
        let gw_cpu = per_call(gateway.cpu() - gw_before, &over_http);
        let server_cpu = per_call(server.cpu() - server_before, &over_http);
        cpu_notes.push(format!(
            "c={c}: CPU per call: direct, the calling process {direct_self:.0} µs; over HTTP, the calling process (reqwest) {http_self:.0} µs, the gateway process {gw_cpu:.0} µs, the server {server_cpu:.0} µs"
        ));
        for (name, f) in [
            ("bus (direct)", &mut direct),
            ("HTTP → gateway → bus", &mut over_http),
        ] {
            println!(
                "| {name} | {c} | {:.0} | {:.2} | {:.2} | {} |",
                f.rate(),
                f.percentile(0.5),
                f.percentile(0.99),
                f.errors
            );
        }
        println!(
            "| gateway ÷ direct | {c} | {:.2} | {:.2} | {:.2} | |",
            over_http.rate() / direct.rate(),
            over_http.percentile(0.5) / direct.percentile(0.5),
            over_http.percentile(0.99) / direct.percentile(0.99)
        );
    }
    for note in cpu_notes {
        println!("{note}");
    }
    bus.stop().await;
    gateway.stop().await;
    server.stop().await;
    Ok(())
}

/// utime + stime of a process from `/proc/<pid>/stat`, at the usual 100 ticks per second.
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}
