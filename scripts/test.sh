#!/usr/bin/env bash
# The whole test suite, as CI runs it (the README's test command): every test of every crate,
# the ignored ones included, with the services some of them need started privately and torn
# down at exit. A service that cannot start fails the run: nothing is skipped.
#
#   bash scripts/test.sh [cargo test options...]
#
# - PostgreSQL, from the OS packages (installed when missing): a throw-away cluster in a temp
#   dir on a free loopback port, run as an unprivileged user when this runs as root (postgres
#   refuses root). Tests read its URL from GUMGATE_TEST_POSTGRES_URL and create a database each.
# - Redis, from the OS packages (installed when missing): tests start `redis-server` processes
#   of their own (free ports, no persistence), since some stop and restart theirs; this checks
#   one starts before any test runs.
# - nginx, from the OS packages (installed when missing): the cluster tests run the load
#   balancer's shipped configuration (deploy/nginx) in front of their processes.
#
# - A gateway for the client libraries: `gumgate serve --sandbox --config clients/test-server.toml`
#   on free ports with a throw-away database, its URL in GUMGATE_TEST_URL for the Rust client's
#   tests (crates/gumgate-client/tests) and the TypeScript client's (clients/typescript, `npm ci`
#   from its lockfile, then `npm test`); its /openapi.json is checked against what each client
#   lists in its openapi-uses.json (scripts/check-client-openapi.py).
#
# A bare `cargo test` runs everything else and lists these tests as ignored, naming this script.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pg_bin() { find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

missing=()
[ -n "$(pg_bin)" ] || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} from the OS packages"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
# The TypeScript client needs Node 20 or newer (its package.json says so); an older one from the
# OS packages fails here, loudly, rather than in the middle of its tests.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] ||
    { say "Node.js 20 or newer is needed for clients/typescript (found: $(node --version 2>&1))"; exit 1; }
PG=$(pg_bin)
[ -x "$PG/initdb" ] && [ -x "$PG/pg_ctl" ] || { say "no PostgreSQL server binaries under /usr/lib/postgresql"; exit 1; }

work=$(mktemp -d /tmp/gumgate-test.XXXXXX)
pg_user=""
if [ "$(id -u)" = 0 ]; then
    pg_user=postgres
    id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
    chown "$pg_user" "$work"
fi
as_pg() { if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }

stop_services() {
    if [ -f "$work/pg/postmaster.pid" ]; then
        as_pg "$PG/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -n "${gateway_pid:-}" ]; then
        kill "$gateway_pid" 2>/dev/null || true
        wait "$gateway_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop_services EXIT

pg_port=$(free_port)
# trust on loopback: a private cluster that lives as long as this run. fsync off: nothing here
# needs to survive a power cut, and the seat tests commit a lot.
as_pg "$PG/initdb" -D "$work/pg" -U gumgate --auth=trust -E UTF8 >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; say "initdb failed"; exit 1; }
as_pg "$PG/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
    start >/dev/null ||
    { cat "$work/pg.log" >&2; say "PostgreSQL did not start"; exit 1; }
export GUMGATE_TEST_POSTGRES_URL="postgres://gumgate@127.0.0.1:$pg_port/postgres"

# The Debian package starts a system-wide redis-server on 6379; the tests never use it.
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null ||
    { cat "$work/redis.log" >&2; say "redis-server did not start"; exit 1; }
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
say "$(redis-server --version | awk '{print $1, $2, $3}') starts"
say "PostgreSQL $("$PG/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

# Everything built first (the binary as the tests build it), so the gateway below runs what the
# tests test, and no build overwrites it while it runs (it runs a copy).
cargo test --workspace --locked --no-run "$@"
cp target/debug/gumgate "$work/gumgate"
GUMGATE__SERVER__LISTEN=127.0.0.1:0 GUMGATE__SERVER__METRICS_LISTEN=127.0.0.1:0 \
    GUMGATE__LOG__FORMAT=json GUMGATE__STORAGE__DATABASE_URL="sqlite://$work/clients.db" \
    "$work/gumgate" serve --sandbox --config clients/test-server.toml >"$work/gateway.log" 2>&1 &
gateway_pid=$!
addrs=$(python3 scripts/listening.py "$work/gateway.log" 20) ||
    { say "the clients' gateway did not start"; exit 1; }
api=${addrs%% *}
export GUMGATE_TEST_URL="http://$api"
say "clients' gateway (serve --sandbox) on $GUMGATE_TEST_URL"

cargo test --workspace --locked "$@" -- --include-ignored

python3 scripts/check-client-openapi.py "$GUMGATE_TEST_URL/openapi.json" \
    crates/gumgate-client/openapi-uses.json clients/typescript/openapi-uses.json
(
    cd clients/typescript
    npm ci --no-audit --no-fund --loglevel=error
    npm test
)
