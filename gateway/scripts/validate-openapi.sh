#!/usr/bin/env bash
# Validates the gateway's OpenAPI document with independent tools, against the running example:
#
#   gateway/scripts/validate-openapi.sh     # GATEWAY_MAX_EXAMPLES=25 and GATEWAY_SEED=1 by default
#
# 1. builds and starts `arith_gateway` (memory bus, the interop handlers) on a free loopback port;
# 2. openapi-spec-validator (PyPI) checks GET /openapi.json against the OpenAPI 3.1 schema;
# 3. schemathesis (PyPI) runs a bounded number of generated cases per operation against the
#    gateway: no server error (5xx other than the documented 503/504), every status, content type
#    and body as the document says.
# Both tools live in a venv under target/gateway-venv (created on first use). Needs python3
# with venv and network access to PyPI the first time. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/gateway-venv
wanted="openapi-spec-validator==0.9.0 schemathesis==4.32.5"
# Recreated when the pins changed or the venv no longer runs (e.g. target/ was moved: a venv's
# scripts name its absolute path).
if [ "$(cat "$venv/.installed" 2>/dev/null || true)" != "$wanted" ] \
  || ! "$venv/bin/python" -c 'import openapi_spec_validator, schemathesis' 2>/dev/null \
  || ! "$venv/bin/openapi-spec-validator" --help >/dev/null 2>&1; then
  echo "==> creating $venv ($wanted)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check $wanted
  echo "$wanted" > "$venv/.installed"
fi

echo "==> building arith_gateway"
cargo build --quiet -p clamator-gateway --example arith_gateway
# Where cargo put it: CARGO_TARGET_DIR when set (relative to here, as cargo reads it).
gateway_bin="${CARGO_TARGET_DIR:-target}/debug/examples/arith_gateway"
check() { # $1: label, rest: extra arith_gateway flags
  local label=$1; shift
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Short timeouts: generated slowAdd calls ask for sleeps of any length; they answer 504.
  "$gateway_bin" --listen "127.0.0.1:$port" --timeout-ms 500 --max-timeout-ms 500 "$@" \
    > target/gateway-validate.log 2>&1 &
  gw=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$gw" 2>/dev/null; then cat target/gateway-validate.log; exit 1; fi
    sleep 0.1
  done

  echo "==> [$label] openapi-spec-validator"
  curl -fsS "http://127.0.0.1:$port/openapi.json" > "target/gateway-openapi-$label.json"
  "$venv/bin/openapi-spec-validator" "target/gateway-openapi-$label.json"

  echo "==> [$label] schemathesis (${GATEWAY_MAX_EXAMPLES:-25} examples per operation)"
  "$venv/bin/schemathesis" --config-file gateway/scripts/schemathesis.toml run \
    "http://127.0.0.1:$port/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${GATEWAY_MAX_EXAMPLES:-25}" --workers 1 --seed "${GATEWAY_SEED:-1}" --no-color
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  gw=
}

gw=
trap '[ -n "$gw" ] && kill "$gw" 2>/dev/null || true' EXIT
# The typed document, then the same gateway also forwarding anything (the binary's generic
# operation, which needs no Redis here: the memory bus answers unknown services itself).
check typed
check forward-any --forward-any
echo "==> OpenAPI documents valid, schemathesis clean"
