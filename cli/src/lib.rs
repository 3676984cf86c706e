//! `clamator`, the command-line tool of the clamator bus over Redis streams.
//!
//! It speaks the wire (spec §6: `<prefix>:cmds:<service>` streams, consumer group
//! `<service>`, `type`/`envelope`/`reply-to` fields), so it works the same against Rust,
//! Python and TypeScript servers. Exit codes: [`error::EXIT_OK`] on success,
//! [`error::EXIT_FAILED`] when a call returned an RPC error or a drift was found,
//! [`error::EXIT_USAGE_OR_TRANSPORT`] on a usage or transport failure.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod error;
pub mod output;
pub mod store;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ManifestCommand};
use error::{CliError, CliResult};
use output::Out;

/// Parses the process arguments, runs the command, prints any failure and returns the exit
/// code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(&cli.global);
    match run(&cli, &out) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            if out.json {
                let doc = e.to_json();
                if !doc.is_null() {
                    out.json_doc(&doc);
                }
            }
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: &Cli, out: &Out) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::transport(format!("cannot start the async runtime: {e}")))?;
    let g = &cli.global;
    runtime.block_on(async {
        match &cli.command {
            Command::Call(a) => commands::call::call(g, out, a).await,
            Command::Notify(a) => commands::call::notify(g, out, a).await,
            Command::Services(args) => commands::services::run(g, out, args).await,
            Command::Pending(a) => commands::pending::run(g, out, a).await,
            Command::Dead(c) => commands::dead::run(g, out, c).await,
            Command::Tail(a) => commands::tail::run(g, out, a).await,
            Command::Bench(a) => commands::bench::run(g, out, a).await,
            Command::Manifest(ManifestCommand::Diff { a, b }) => commands::manifest::run(out, a, b),
        }
    })
}
