#!/usr/bin/env bash
# Instructions per request, Gumgate against nginx, counted by callgrind: stable on a noisy
# machine where throughput is not. Each server runs twice under callgrind for each request
# shape: 200 warm-up requests then exit, and the same plus REQUESTS more over one keep-alive
# connection then exit; the difference of the two totals over REQUESTS is the cost of one
# request, start-up and shutdown cancelling out. (callgrind_control cannot switch counting on
# in a process blocked in a syscall, which nginx's master always is.) Only the proxy's own
# instructions are counted: the sandbox and the client run natively.
#
#   bash bench/callgrind.sh            # REQUESTS [2000] per figure
#
# Figures, for Gumgate (single node, and a replica in cluster mode with Redis: its hits must
# cost the same, never touching Redis), the axum floor (examples/floor.rs) and nginx: a
# cache-hit verify (`POST /v2/licenses/verify`, nginx `proxy_cache` HIT) and an admin passthrough
# (`GET /v2/user`, nginx `proxy_pass`). nginx runs one worker here so that every request is
# counted in one process (the master is counted too).
set -euo pipefail
shopt -s inherit_errexit   # a failed request inside $(count ...) stops the script

REQUESTS=${REQUESTS:-2000}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v valgrind >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || install_tools
(cd "$ROOT" && cargo build --release --locked -q && cargo build --release --locked -q --example floor)
FLOOR="$ROOT/target/release/examples/floor"

# N requests over one keep-alive connection; fails unless every one is answered 200.
send() { # port method path n [form body]
    python3 - "$@" <<'PY'
import http.client, os, sys
port, method, path, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = sys.argv[5] if len(sys.argv) > 5 else None
headers = {"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"]}
if body is not None:
    headers["Content-Type"] = "application/x-www-form-urlencoded"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{method} {path}: {r.status}")
PY
}

# Total instructions of one server run: start under callgrind, warm up, send N more, stop.
run() { # server(gumgate|cluster|floor|nginx) n method path [form body]
    local server=$1 n=$2 method=$3 path=$4 port pid
    local body=(${5+"$5"})
    port=$(free_port)
    case $server in
        gumgate) start_gumgate "$port" "$(free_port)" "$SB" GUMGATE__LOG__LEVEL=warn; pid=$LAST_PID ;;
        cluster)
            # A replica in cluster mode: hits are its own cache's and must never touch Redis.
            start_gumgate "$port" "$(free_port)" "$SB" GUMGATE__LOG__LEVEL=warn "${CLUSTER_ENV[@]}"
            pid=$LAST_PID ;;
        nginx) NGINX_WORKERS=1 start_nginx "$port" "$SB"; pid=$LAST_PID ;;
        floor)
            MATON_API_KEY=$MATON_KEY ${WRAP[@]+"${WRAP[@]}"} "$FLOOR" "$HOST:$port" "http://$HOST:$SB" >"$WORK/floor.log" 2>&1 &
            pid=$!
            PIDS+=("$pid")
            wait_http "http://$HOST:$port/livez" ;;
    esac
    # This runs in $(...): the parent's exit trap never sees $pid, so a failure stops it here.
    send "$port" "$method" "$path" 200 ${body[@]+"${body[@]}"} || { stop_pid "$pid"; return 1; }
    if [ "$n" -gt 0 ]; then
        send "$port" "$method" "$path" "$n" ${body[@]+"${body[@]}"} || { stop_pid "$pid"; return 1; }
    fi
    stop_pid "$pid"
    sleep 1   # nginx's workers finish writing theirs after the master
    cat "$CG"/* | awk '/^totals:/ {t += $2} END {printf "%.0f", t}'
    rm -f "$CG"/*
}

# Instructions per request: the difference of a run with REQUESTS more and one without.
count() { # server method path [form body]
    local base more
    base=$(run "$1" 0 "${@:2}")
    more=$(run "$1" "$REQUESTS" "${@:2}")
    awk -v a="$more" -v b="$base" -v n="$REQUESTS" 'BEGIN {printf "%.0f", (a - b) / n}'
}

SB=$(free_port)
start_sandbox "$SB"
start_redis
cluster_env
CG="$WORK/callgrind"
mkdir -p "$CG" && chmod 1777 "$CG"   # nginx's workers write theirs as nobody
WRAP=(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$CG/%p")
export WAIT_TRIES=1200   # valgrind starts slowly

log "gumgate under callgrind: cache-hit verify"
GG_HIT=$(count gumgate POST /v2/licenses/verify "$VERIFY_BODY")
log "gumgate in cluster mode (Redis) under callgrind: cache-hit verify"
CL_HIT=$(count cluster POST /v2/licenses/verify "$VERIFY_BODY")
log "gumgate under callgrind: passthrough GET /v2/user"
GG_PASS=$(count gumgate GET /v2/user)
log "axum floor under callgrind: static verify answer"
FL_HIT=$(count floor POST /v2/licenses/verify "$VERIFY_BODY")
log "axum floor under callgrind: reqwest relay GET /v2/user"
FL_PASS=$(count floor GET /v2/user)
log "nginx under callgrind: proxy_cache HIT"
NG_HIT=$(count nginx POST /v2/licenses/verify "$VERIFY_BODY")
log "nginx under callgrind: proxy_pass GET /v2/user"
NG_PASS=$(count nginx GET /v2/user)

cat <<EOT

### Instructions per request (callgrind, $REQUESTS requests after 200 warm-up, one connection; $(git -C "$ROOT" rev-parse --short HEAD))

| request | Gumgate | axum floor | nginx | Gumgate / nginx | floor / nginx |
|---|---:|---:|---:|---:|---:|
| cache-hit verify | $GG_HIT | $FL_HIT | $NG_HIT | $(ratio "$GG_HIT" "$NG_HIT") | $(ratio "$FL_HIT" "$NG_HIT") |
| admin passthrough \`GET /v2/user\` | $GG_PASS | $FL_PASS | $NG_PASS | $(ratio "$GG_PASS" "$NG_PASS") | $(ratio "$FL_PASS" "$NG_PASS") |

| cache-hit verify | single node | cluster mode (Redis) | cluster / single |
|---|---:|---:|---:|
| instructions | $GG_HIT | $CL_HIT | $(awk -v a="$CL_HIT" -v b="$GG_HIT" 'BEGIN {printf "%.3f", a / b}') |

The axum floor (\`examples/floor.rs\`) is the least axum + hyper + reqwest do for the same
request: a static answer of the same size, and a bare reqwest relay.
EOT
