#!/usr/bin/env bash
# The whole-API check (issue 10): Schemathesis against /openapi.json of a running gateway in
# front of a standalone sandbox, every operation, with and without the admin token, at most 25
# examples per operation (.ci/schemathesis.toml). Fails on any 5xx the spec does not list, any
# schema violation and any other check Schemathesis runs.
#
# Usage: .ci/schemathesis.sh GUMGATE_BINARY SCHEMATHESIS_BINARY
# The sandbox's own 10/s limit is off and the gateway's budget and per-IP limits are raised, so
# the budget's 503s and the limits' 429s do not drown the signal (those have their own tests).
set -euo pipefail
bin=$1
st=$2
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # URL LOG
  for _ in $(seq 1 100); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$1 did not answer:" >&2; cat "$2" >&2; exit 1
}

sandbox_port=$(free_port)
"$bin" sandbox --listen "127.0.0.1:$sandbox_port" --rate-limit 0 >"$work/sandbox.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$sandbox_port/_sandbox/faults" "$work/sandbox.log"

api_port=$(free_port)
ops_port=$(free_port)
"$bin" keys generate --out "$work/signing.pem" >/dev/null
admin_token=schemathesis-admin-token
env MATON_API_KEY=sandbox-maton-key \
  GUMGATE_ADMIN_TOKEN="ci:$admin_token" \
  GUMGATE_WEBHOOK_SECRET=schemathesis-webhook-secret \
  GUMGATE_SIGNING_KEY_FILE="$work/signing.pem" \
  GUMGATE__UPSTREAM__BASE_URL="http://127.0.0.1:$sandbox_port" \
  GUMGATE__UPSTREAM__RATE_LIMIT=1000 \
  GUMGATE__LIMITS__VERIFY_PER_IP=100000/s \
  GUMGATE__LIMITS__FAILED_VERIFY_PER_IP=100000/s \
  GUMGATE__LIMITS__UPSTREAM_VERIFY_PER_IP=100000/s \
  GUMGATE__LIMITS__FAILED_ADMIN_AUTH_PER_IP=100000/s \
  GUMGATE__SERVER__LISTEN="127.0.0.1:$api_port" \
  GUMGATE__SERVER__METRICS_LISTEN="127.0.0.1:$ops_port" \
  GUMGATE__STORAGE__DATABASE_URL="sqlite://$work/gumgate.db" \
  "$bin" serve >"$work/gumgate.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$api_port/livez" "$work/gumgate.log"

config=$(dirname "$0")/schemathesis.toml
for who in admin anonymous; do
  echo "--- schemathesis as $who"
  auth=()
  [ "$who" = admin ] && auth=(-H "Authorization: Bearer $admin_token")
  "$st" --config-file "$config" --no-color run "http://127.0.0.1:$api_port/openapi.json" \
    "${auth[@]}" || { echo "schemathesis ($who) failed; gumgate's log:" >&2; tail -50 "$work/gumgate.log" >&2; exit 1; }
done
