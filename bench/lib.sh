# Shared by bench/verify.sh and bench/callgrind.sh (sourced, not run): where things are, the
# credentials and the request both scripts send, tools, the processes under test (sandbox,
# Gumgate, nginx, each optionally under a WRAP command such as valgrind), and the measuring
# helpers.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BIN="$ROOT/target/release/gumgate"
OHA="$BENCH/.tools/bin/oha"
HOST=127.0.0.1

MATON_KEY=sandbox-maton-key
ADMIN_TOKEN=bench-admin-token-0123456789
export ADMIN_TOKEN
PRODUCT_ID='9Y2u8Dy4AWioyNrmNROrFA=='       # seed::PRODUCT_ONE_TIME
PRODUCT_ENC='9Y2u8Dy4AWioyNrmNROrFA%3D%3D'
VALID_KEY='5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0' # seed::LICENSE_VALID
VERIFY_BODY="product_id=$PRODUCT_ENC&license_key=$VALID_KEY&increment_uses_count=false"
export VERIFY_BODY

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v curl >/dev/null || missing+=(curl)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} from Debian"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi
    # A fixed-rate generator for the half-peak figure: wrk2 if Debian has it, else oha.
    if apt-cache show wrk2 >/dev/null 2>&1; then
        command -v wrk2 >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk2
        RATE_TOOL=wrk2
    else
        [ -x "$OHA" ] || { log "wrk2 is not in Debian; cargo install --locked oha into bench/.tools";
                           cargo install --locked oha --root "$BENCH/.tools"; }
        RATE_TOOL=oha
    fi
}

NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d /tmp/gumgate-bench.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# A port nobody listens on (checked by connecting; the tiny race is acceptable on a bench box).
USED_PORTS=" "
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
            USED_PORTS="$USED_PORTS$p "
            echo "$p"
            return
        fi
    done
}

wait_http() { # url [headers...]
    local url=$1 i
    shift
    for i in $(seq 1 "${WAIT_TRIES:-200}"); do
        if curl -sf -o /dev/null "$@" "$url"; then return 0; fi
        sleep 0.05
    done
    die "$url did not come up"
}

start_sandbox() { # port [extra args]; sets LAST_PID
    local port=$1
    shift
    "$BIN" sandbox --listen "$HOST:$port" --rate-limit 0 "$@" >"$WORK/sandbox-$port.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_http "http://$HOST:$port/_sandbox/faults"
}

start_gumgate() { # port metrics_port upstream_port [extra env]; sets LAST_PID
    local port=$1 mport=$2 up=$3
    shift 3
    env MATON_API_KEY=$MATON_KEY GUMGATE_ADMIN_TOKEN=$ADMIN_TOKEN \
        GUMGATE__SERVER__LISTEN="$HOST:$port" GUMGATE__SERVER__METRICS_LISTEN="$HOST:$mport" \
        GUMGATE__UPSTREAM__BASE_URL="http://$HOST:$up" GUMGATE__LOG__LEVEL=warn \
        GUMGATE__STORAGE__DATABASE_URL="sqlite://$WORK/gumgate-$port.db" \
        GUMGATE__LIMITS__VERIFY_PER_IP=1000000/s GUMGATE__LIMITS__FAILED_VERIFY_PER_IP=1000000/s \
        GUMGATE__UPSTREAM__RATE_LIMIT=1000000 GUMGATE__UPSTREAM__SPACING_MARGIN=0s \
        GUMGATE__UPSTREAM__BURST=1000 "$@" \
        ${WRAP[@]+"${WRAP[@]}"} "$BIN" serve >"$WORK/gumgate-$port.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_http "http://$HOST:$mport/livez"
}

# A private redis-server (installed when missing): no persistence. Sets REDIS_PORT.
start_redis() {
    command -v redis-server >/dev/null ||
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no \
        >"$WORK/redis.log" 2>&1 &
    PIDS+=("$!")
    local tries=0
    until (exec 3<>"/dev/tcp/$HOST/$REDIS_PORT") 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || die "redis-server did not listen on $REDIS_PORT: $(cat "$WORK/redis.log")"
        sleep 0.05
    done
}

# The environment of a replica in cluster mode (Redis at REDIS_PORT), for start_gumgate.
CLUSTER_ENV=(GUMGATE__REDIS__URL= GUMGATE_CACHE_KEY_SECRET=bench-cache-key-secret-0123456789abcdef)
cluster_env() { CLUSTER_ENV[0]="GUMGATE__REDIS__URL=redis://$HOST:$REDIS_PORT"; }

start_nginx() { # port upstream_port
    local port=$1 up=$2 dir="$WORK/nginx"
    mkdir -p "$dir/cache" "$dir/tmp"
    local user=""
    if [ "$(id -u)" = 0 ]; then
        # As root, nginx's workers drop to an unprivileged user that must reach the cache.
        user="user nobody nogroup;"
        chmod 755 "$WORK"
        chown -R nobody:nogroup "$dir"
    fi
    cat >"$dir/nginx.conf" <<EOF
$user
# Two workers: Gumgate's tokio runtime has one worker thread per core, 2 here.
worker_processes ${NGINX_WORKERS:-2};
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=verify:16m max_size=256m inactive=10m use_temp_path=off;
    # Pooled upstream connections, as Gumgate's HTTP client keeps them.
    upstream sandbox {
        server $HOST:$up;
        keepalive 64;
    }
    server {
        listen $HOST:$port;
        # Bodies stay in memory, so \$request_body is set for the cache key.
        client_body_buffer_size 64k;
        client_max_body_size 64k;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Authorization "Bearer $MATON_KEY";
        location = /v2/licenses/verify {
            proxy_cache verify;
            proxy_cache_methods POST;
            proxy_cache_key "\$request_uri|\$request_body";
            proxy_cache_valid 200 5m;
            proxy_cache_valid 404 1m;
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
            add_header X-Cache-Status \$upstream_cache_status always;
            proxy_pass http://sandbox/gumroad/v2/licenses/verify;
        }
        location = /v2/user {
            proxy_pass http://sandbox/gumroad/v2/user;
        }
    }
}
EOF
    ${WRAP[@]+"${WRAP[@]}"} "$NGINX" -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_http "http://$HOST:$port/v2/user"
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- measuring
# wrk's latency figures come as 812.00us / 1.23ms / 1.02s; print milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}

# Runs wrk; sets RPS, P50, P99 (ms), NON2XX and prints wrk's own output to stderr.
run_wrk() { # label url [wrk args...]
    local label=$1 url=$2 out
    shift 2
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    printf '%s\n%s\n' "-- wrk: $label" "$out" >&2
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    REQS=$(awk '/ requests in / {print $1}' <<<"$out")
    P50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    P99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    NON2XX=${NON2XX:-0}
    [ "$NON2XX" = 0 ] || log "WARNING: $label had $NON2XX non-2xx answers"
}

# The median of numbers (the mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
        END {m = int((NR + 1) / 2); if (NR % 2) print v[m]; else printf "%.3f\n", (v[m] + v[m + 1]) / 2}'
}

# Fixed-rate run with oha (wrk2 is not in Debian); latency corrected for coordinated omission.
# Sets R_P50, R_P99, R_P999 (ms), R_RPS, R_OK.
run_rate() { # label rate url [curl-like args for oha...]
    local label=$1 rate=$2 url=$3 out
    shift 3
    local before
    before=$(cpu_busy_ticks)
    out=$("$OHA" --no-tui --latency-correction -z "$DURATION" -c "$CONNECTIONS" -q "$rate" "$@" "$url")
    R_BUSY=$(busy_pct "$before" "$(cpu_busy_ticks)")
    printf '%s\n%s\n' "-- oha at $rate req/s: $label" "$out" >&2
    R_RPS=$(awk '/Requests\/sec:/ {printf "%.0f", $2; exit}' <<<"$out")
    R_P50=$(pct_ms "50.00%" "$out")
    R_P99=$(pct_ms "99.00%" "$out")
    R_P999=$(pct_ms "99.90%" "$out")
    R_OK=$(awk '/\[200\]/ {print $2; exit}' <<<"$out")
}

# oha's "Response time distribution" lines: "  99.00% in 0.4521 ms" (or secs, us).
pct_ms() {
    awk -v p="$1" '$1 == p && $2 == "in" {
        n = $3; if ($4 ~ /^s/) n *= 1000; else if ($4 ~ /^(us|µs)/) n /= 1000;
        printf "%.3f", n; exit }' <<<"$2"
}

# Whole-machine "idle total" ticks from /proc/stat, and the busy share of all cores between two.
cpu_busy_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t}' /proc/stat; }
busy_pct() { # "idle total" "idle total"
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        dt = y[2] - x[2]; if (dt > 0) printf "%.0f", 100 * (1 - (y[1] - x[1]) / dt); else print "n/a" }'
}

# CPU time (user + system, in clock ticks) of a process and its children (nginx's workers).
cpu_ticks() {
    awk -v p="$1" '$1 == p || $4 == p {t += $14 + $15} END {print t + 0}' /proc/[0-9]*/stat 2>/dev/null
}
TICK_HZ=$(getconf CLK_TCK)
# CPU microseconds per request: ticks used during a run / requests answered.
cpu_us_per_req() { # ticks requests
    awk -v t="$1" -v n="$2" -v hz="$TICK_HZ" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'; }
half() { awk -v a="$1" 'BEGIN { printf "%d", a / 2 }'; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

metric() { # metrics_port name{labels}; empty when the scrape fails
    local text
    text=$(curl -sf "http://$HOST:$1/metrics") || return 0
    awk -v m="$2" 'index($0, m) == 1 {print $2}' <<<"$text"
}
