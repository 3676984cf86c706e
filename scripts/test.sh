#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs every check.
#
#   ./scripts/test.sh
#
# Needs: a Rust toolchain, python3 (the interop suite builds its own venv under target/), and
# redis-server (installed here from Debian packages when missing; tests start their own
# instance on a free loopback port, or use REDIS_URL when it is set).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# redis-server for every Redis test (plain, TLS, ACL, sentinel); redis-cli (redis-tools) to
# join the local test cluster. Installed even with REDIS_URL set: those tests start their own.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "==> installing redis-server and redis-tools (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is required by the interop suite (apt-get install python3 python3-venv)" >&2
  exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "==> unused dependencies (cargo-machete)"
command -v cargo-machete >/dev/null 2>&1 || cargo install --locked --quiet cargo-machete@0.9.2
cargo machete
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
echo "==> cargo test"
cargo test --workspace
echo "==> cargo test (feature-gated suites: otel trace propagation)"
# `cargo test --workspace` builds no crate with `otel`, so these would never run without this.
cargo test -p clamator-protocol --features otel --lib telemetry
cargo test -p clamator --features otel,testing --test otel
cargo test -p clamator-gateway --features otel --test otel
echo "==> cargo test (feature-gated suites: metrics)"
# Likewise `metrics`: the scripted Redis run, the memory transport and cardinality bound, the
# dashboard's names, and the protocol's label unit tests.
cargo test -p clamator-protocol --features metrics --lib metrics
cargo test -p clamator-protocol --features metrics --test dashboard
cargo test -p clamator-over-memory --features metrics --test metrics
cargo test -p clamator-over-redis --features metrics --test metrics
echo "==> gateway OpenAPI validation (openapi-spec-validator + schemathesis)"
gateway/scripts/validate-openapi.sh
echo "==> chaos suite (quick)"
cargo run --release -p clamator-chaos -- --quick
