//! The command line: global options and one subcommand per task (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The clamator bus from a shell: call methods, inspect services, pending entries and dead
/// letters, follow requests, benchmark, and diff schema manifests.
///
/// It speaks the wire (Redis streams, spec §6), so it works the same against Rust, Python
/// and TypeScript servers.
#[derive(Debug, Parser)]
#[command(name = "clamator", version)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Redis to connect to.
    #[arg(
        long,
        global = true,
        env = "REDIS_URL",
        default_value = "redis://localhost:6379"
    )]
    pub redis_url: String,
    /// Key prefix of the bus (the servers' `key_prefix`).
    #[arg(long, global = true, env = "CLAMATOR_PREFIX")]
    pub prefix: Option<String>,
    /// Machine output: one JSON document (or one per line for `tail`) on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr (e.g. how long a call took).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a method and print its result (exit 1 on an RPC error).
    Call(CallArgs),
    /// Send a notification (no reply is awaited).
    Notify(NotifyArgs),
    /// One row per service under the prefix: live servers, consumers, entries, pending, lag,
    /// dead letters.
    Services(ServicesArgs),
    /// Pending (delivered, not acknowledged) entries of a service.
    Pending(PendingArgs),
    /// Inspect, replay or purge a service's dead letters (`<prefix>:dead:<service>`).
    #[command(subcommand)]
    Dead(DeadCommand),
    /// Follow new requests of a service, read-only (never joins the consumer group).
    Tail(TailArgs),
    /// Call a method as fast as possible and report calls/s and latency percentiles.
    Bench(BenchArgs),
    /// Schema manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
}

/// `clamator services`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Also list each live server instance (host, pid, version, uptime, load), from the
    /// presence records Rust servers publish (Python and TypeScript peers publish none).
    #[arg(long)]
    pub instances: bool,
}

/// `clamator call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// `<service>.<method>`, e.g. `arith.add`.
    pub target: String,
    /// JSON params (default `{}`); `-` reads them from stdin.
    pub params: Option<String>,
    /// How long to wait for the reply (`5s`, `250ms`).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `clamator notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// `<service>.<method>`, e.g. `notifications.ping`.
    pub target: String,
    /// JSON params (default `{}`); `-` reads them from stdin.
    pub params: Option<String>,
    /// Send even when no server ever served the service (the entry would wait for one, and a
    /// server joining at `$` would never see it).
    #[arg(long)]
    pub force: bool,
}

/// `clamator pending`.
#[derive(Debug, Args)]
pub struct PendingArgs {
    /// The service.
    pub service: String,
    /// At most this many entries (oldest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `clamator dead …`.
#[derive(Debug, Subcommand)]
pub enum DeadCommand {
    /// List the dead letters of a service, oldest first.
    List {
        /// The service.
        service: String,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter: every field, the envelope pretty-printed.
    Show {
        /// The service.
        service: String,
        /// The dead letter's id (in the dead-letter stream; `dead list` shows it).
        id: String,
    },
    /// Put dead letters back on the command stream so a server handles them again.
    ///
    /// Each entry's original `type`, `envelope`, `reply-to` (and `timeout-ms`) fields are
    /// added to `<prefix>:cmds:<service>` (XADD) and the dead letter is deleted (XDEL) only
    /// after that add succeeded. An interruption between the two leaves the entry in both
    /// streams: a duplicate is possible, a loss is not. The caller's reply stream gets the
    /// answer if it still listens.
    Replay {
        /// The service.
        service: String,
        /// Dead-letter ids to replay.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Replay every dead letter of the service.
        #[arg(long)]
        all: bool,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters (all of them, or those dead-lettered before a given age).
    Purge {
        /// The service.
        service: String,
        /// Only those dead-lettered longer ago than this (`1h`, `30m`).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `clamator tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// The service.
    pub service: String,
    /// Exit after this many entries.
    #[arg(long)]
    pub count: Option<usize>,
}

/// `clamator bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// `<service>.<method>`, e.g. `arith.add`.
    pub target: String,
    /// JSON params (default `{}`); `-` reads them from stdin.
    pub params: Option<String>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// How long to keep calling (`10s`, `500ms`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Timeout of each call.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `clamator manifest …`.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Compare two schema manifests (clamator-rs or TypeScript codegen `--manifest` JSON);
    /// exit 1 when they differ.
    Diff {
        /// The reference manifest.
        a: PathBuf,
        /// The manifest to compare with it.
        b: PathBuf,
    },
}
