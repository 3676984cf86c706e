//! The `clamator` binary: see the `clamator_cli` library and `clamator --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    clamator_cli::main()
}
