#!/usr/bin/env bash
# Coverage-guided fuzzing smoke run: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default
# 60) from the checked-in corpus. Fails on the first crash (the input is left in
# fuzz/artifacts/<target>/). Needs a nightly toolchain; not part of scripts/test.sh.
#
#   ./scripts/fuzz.sh                    # all targets, 60 s each
#   FUZZ_SECONDS=600 ./scripts/fuzz.sh   # longer
#   ./scripts/fuzz.sh envelope reply     # some targets
#
# New inputs go to fuzz/target/fuzz-corpus/<target>/ (not the checked-in corpus; see
# fuzz/README.md to fold them in with `cargo fuzz cmin`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "==> installing the $toolchain toolchain"
  rustup toolchain install "$toolchain" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +"$toolchain" fuzz list)
fi

cargo +"$toolchain" fuzz build
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work" "corpus/$t" "regressions/$t"
  echo "==> fuzz $t for ${seconds}s"
  # Known crashers first (each must run clean), then the corpus; -max_total_time bounds the run.
  if compgen -G "regressions/$t/*" >/dev/null; then
    cargo +"$toolchain" fuzz run "$t" regressions/"$t"/* -- -runs=1 >/dev/null 2>&1 || {
      echo "fuzz target $t crashes on a regression input in fuzz/regressions/$t" >&2
      exit 1
    }
  fi
  dict=()
  if [ -f "dict/$t.dict" ]; then dict=(-dict="dict/$t.dict"); fi
  cargo +"$toolchain" fuzz run "$t" "$work" "corpus/$t" -- "${dict[@]}" \
    -max_total_time="$seconds" -print_final_stats=1 2>"target/fuzz-$t.log" || {
    tail -n 40 "target/fuzz-$t.log" >&2
    echo "fuzz target $t crashed: see fuzz/artifacts/$t/ and fuzz/target/fuzz-$t.log" >&2
    exit 1
  }
  grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' "target/fuzz-$t.log" || true
done
echo "==> fuzz: no crash in ${#targets[@]} target(s)"
