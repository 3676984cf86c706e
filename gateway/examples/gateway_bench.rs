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
        }) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(gateway(redis_url, prefix, port)),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(drive(Duration::from_secs_f64(args.duration))),
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

async fn drive(measure: Duration) -> Result<(), Box<dyn std::error::Error>> {
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

    println!("| path | c | calls/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for c in [16usize, 128] {
        let mut direct = run(c, warmup, measure, || async {
            bus.call(ArithContract::ADD, &params).await.is_ok()
        })
        .await;
        let mut over_http = run(c, warmup, measure, || async {
            match http.post(&url).json(&params).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
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
    bus.stop().await;
    gateway.stop().await;
    server.stop().await;
    Ok(())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}
