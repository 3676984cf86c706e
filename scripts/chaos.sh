#!/usr/bin/env bash
# The full chaos suite (release build): Redis kills and restarts, killed connections, pauses, a
# killed server, junk entries, panicking and hanging handlers, 10 000 concurrent calls, a soak of
# 1 000 000 calls. About 6–10 minutes on a 2-vCPU machine. Exits non-zero when a threshold is
# violated. Extra arguments are passed on (e.g. `--only junk`, `--json target/chaos.json`).
#
#   ./scripts/chaos.sh [--only <substring>] [--json <file>]
#
# Needs redis-server on PATH (apt-get install redis-server); it starts its own instances on
# free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
# `cargo run` finds the binary wherever CARGO_TARGET_DIR puts it.
exec cargo run --release -p clamator-chaos -- "$@"
