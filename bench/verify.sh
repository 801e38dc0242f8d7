#!/usr/bin/env bash
# Gumgate's benchmark: cache-hit verify vs nginx proxy_cache, p99 at half of peak, admin
# passthrough overhead vs nginx proxy_pass, and resident memory after caching a million verify
# answers. Everything runs on 127.0.0.1, against `gumgate sandbox`; see bench/README.md.
#
#   bash bench/verify.sh                 # full run, prints a Markdown summary at the end
#   DURATION=5s FILL_COUNT=100000 bash bench/verify.sh    # a quick smoke run
#
# Env knobs (defaults in brackets): DURATION [15s] each wrk/oha run; RUNS [5] alternating runs
# of a) and c), whose medians are reported; THREADS [2] wrk -t;
# CONNECTIONS [64] wrk/oha -c; FILL_COUNT [1000000] verify answers cached for the memory
# figure; FILL_CONNECTIONS [64]; FILL_TIMEOUT [600] seconds the fill may take at most.
set -euo pipefail

DURATION=${DURATION:-15s}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
FILL_COUNT=${FILL_COUNT:-1000000}
FILL_CONNECTIONS=${FILL_CONNECTIONS:-64}
FILL_TIMEOUT=${FILL_TIMEOUT:-600}

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- run
install_tools
log "building (cargo build --release --locked)"
(cd "$ROOT" && cargo build --release --locked)

SB=$(free_port); GG=$(free_port); GGM=$(free_port); NG=$(free_port)
start_sandbox "$SB"
SB_PID=$LAST_PID
start_gumgate "$GG" "$GGM" "$SB"
GG_PID=$LAST_PID
start_nginx "$NG" "$SB"
NG_PID=$LAST_PID
# A replica in cluster mode (Redis): its hits are its own cache's, never Redis's.
start_redis
cluster_env
GC=$(free_port); GCM=$(free_port)
start_gumgate "$GC" "$GCM" "$SB" "${CLUSTER_ENV[@]}"
GC_PID=$LAST_PID
log "sandbox :$SB, gumgate :$GG (metrics :$GGM), nginx :$NG, cluster replica :$GC; work dir $WORK"

# a) cache-hit verify ------------------------------------------------------------------------
log "a) warming both caches and checking they agree"
GG_VERIFY="http://$HOST:$GG/v2/licenses/verify"
NG_VERIFY="http://$HOST:$NG/v2/licenses/verify"
verify_once() { # url file -> prints "status" and writes body + headers
    curl -s -o "$2.body" -D "$2.head" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/x-www-form-urlencoded' --data "$VERIFY_BODY" "$1"
}
GC_VERIFY="http://$HOST:$GC/v2/licenses/verify"
for i in 1 2; do
    verify_once "$GG_VERIFY" "$WORK/gg" >/dev/null
    verify_once "$NG_VERIFY" "$WORK/ng" >/dev/null
    verify_once "$GC_VERIFY" "$WORK/gc" >/dev/null
done
GC_STATUS=$(verify_once "$GC_VERIFY" "$WORK/gc")
GC_CACHE=$(awk -F': ' 'tolower($1) == "cache-status" {gsub(/\r/, "", $2); print $2}' "$WORK/gc.head")
[ "$GC_STATUS" = 200 ] || die "the cluster replica did not answer 200: $(head -c 300 "$WORK/gc.body")"
case "$GC_CACHE" in "gumgate; hit"*) ;; *) die "the cluster replica did not answer from cache: $GC_CACHE" ;; esac
GG_STATUS=$(verify_once "$GG_VERIFY" "$WORK/gg")
NG_STATUS=$(verify_once "$NG_VERIFY" "$WORK/ng")
GG_CACHE=$(awk -F': ' 'tolower($1) == "cache-status" {gsub(/\r/, "", $2); print $2}' "$WORK/gg.head")
NG_CACHE=$(awk -F': ' 'tolower($1) == "x-cache-status" {gsub(/\r/, "", $2); print $2}' "$WORK/ng.head")
echo "gumgate: $GG_STATUS, Cache-Status: $GG_CACHE" >&2
echo "nginx:   $NG_STATUS, X-Cache-Status: $NG_CACHE" >&2
[ "$GG_STATUS" = 200 ] && [ "$NG_STATUS" = 200 ] ||
    die "a verify did not answer 200: gumgate $(head -c 300 "$WORK/gg.body"); nginx $(head -c 300 "$WORK/ng.body")"
cmp -s "$WORK/gg.body" "$WORK/ng.body" || die "gumgate and nginx answered different bodies"
grep -q '"success":true' "$WORK/gg.body" || die "the verify body is not a success"
case "$GG_CACHE" in "gumgate; hit"*) ;; *) die "gumgate did not answer from cache: $GG_CACHE" ;; esac
[ "$NG_CACHE" = HIT ] || die "nginx did not answer from cache: $NG_CACHE"
BODY_BYTES=$(wc -c <"$WORK/gg.body")
echo "both answer 200 with the same $BODY_BYTES-byte JSON body, both from cache" >&2

log "a) cache-hit verify throughput ($RUNS alternating runs of $DURATION, -t$THREADS -c$CONNECTIONS)"
a_gg=() a_ng=() a_gc=()   # "rps p50 p99 cpu" per run
redis_commands() { redis-cli -p "$REDIS_PORT" info stats | awk -F: '/^total_commands_processed/ {print $2 + 0}'; }
GC_REQS=0 GC_REDIS=0
for run in $(seq 1 "$RUNS"); do
    T0=$(cpu_ticks "$GG_PID")
    run_wrk "gumgate verify (hit), run $run" "$GG_VERIFY" -s "$BENCH/lua/verify.lua"
    a_gg+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$GG_PID") - T0)) "$REQS")")
    T0=$(cpu_ticks "$NG_PID")
    run_wrk "nginx verify (proxy_cache HIT), run $run" "$NG_VERIFY" -s "$BENCH/lua/verify.lua"
    a_ng+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$NG_PID") - T0)) "$REQS")")
    T0=$(cpu_ticks "$GC_PID") R0=$(redis_commands)
    run_wrk "gumgate cluster replica verify (hit), run $run" "$GC_VERIFY" -s "$BENCH/lua/verify.lua"
    GC_REDIS=$((GC_REDIS + $(redis_commands) - R0 - 1)) GC_REQS=$((GC_REQS + REQS))
    a_gc+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$GC_PID") - T0)) "$REQS")")
done
# Column N (1-based) of each run's figures, their median.
col_median() { local n=$1; shift; median $(printf '%s\n' "$@" | awk -v n="$n" '{print $n}'); }
A_GG_RPS=$(col_median 1 "${a_gg[@]}") A_GG_P50=$(col_median 2 "${a_gg[@]}")
A_GG_P99=$(col_median 3 "${a_gg[@]}") A_GG_CPU=$(col_median 4 "${a_gg[@]}")
A_NG_RPS=$(col_median 1 "${a_ng[@]}") A_NG_P50=$(col_median 2 "${a_ng[@]}")
A_NG_P99=$(col_median 3 "${a_ng[@]}") A_NG_CPU=$(col_median 4 "${a_ng[@]}")
A_RATIO=$(ratio "$A_GG_RPS" "$A_NG_RPS")
A_GC_RPS=$(col_median 1 "${a_gc[@]}") A_GC_P50=$(col_median 2 "${a_gc[@]}")
A_GC_P99=$(col_median 3 "${a_gc[@]}") A_GC_CPU=$(col_median 4 "${a_gc[@]}")
A_GC_RATIO=$(ratio "$A_GC_RPS" "$A_GG_RPS")
# Redis commands while the replica's hits were measured (its invalidation reader's blocking
# XREAD comes back every few seconds; a hit itself asks Redis nothing).

# The figures above run with GUMGATE__LOG__LEVEL=warn: no access line. The default writes one
# per answer (`log.access_sample = 1`); this Gumgate does, to a file, to show what that costs.
log "a') cache-hit verify with the access log on (log.level=info, access_sample=1)"
GGL=$(free_port); GGLM=$(free_port)
start_gumgate "$GGL" "$GGLM" "$SB" GUMGATE__LOG__LEVEL=info GUMGATE__LOG__ACCESS_SAMPLE=1
GGL_PID=$LAST_PID
verify_once "http://$HOST:$GGL/v2/licenses/verify" "$WORK/ggl" >/dev/null
run_wrk "gumgate verify (hit), access log on" "http://$HOST:$GGL/v2/licenses/verify" \
    -s "$BENCH/lua/verify.lua"
A_LOG_RPS=$RPS A_LOG_P50=$P50 A_LOG_P99=$P99
stop_pid "$GGL_PID"

# b) p99 at half of peak ---------------------------------------------------------------------
log "b) fixed rate at half of each one's peak ($RATE_TOOL, $DURATION, -c$CONNECTIONS)"
OHA_VERIFY=(-m POST -H 'Content-Type: application/x-www-form-urlencoded' -d "$VERIFY_BODY")
B_GG_RATE=$(half "$A_GG_RPS")
B_NG_RATE=$(half "$A_NG_RPS")
run_rate "gumgate verify (hit)" "$B_GG_RATE" "$GG_VERIFY" "${OHA_VERIFY[@]}"
B_GG=("$R_RPS" "$R_P50" "$R_P99" "$R_P999" "$R_BUSY")
run_rate "nginx verify (HIT)" "$B_NG_RATE" "$NG_VERIFY" "${OHA_VERIFY[@]}"
B_NG=("$R_RPS" "$R_P50" "$R_P99" "$R_P999" "$R_BUSY")
run_rate "nginx verify (HIT) at Gumgate's rate" "$B_GG_RATE" "$NG_VERIFY" "${OHA_VERIFY[@]}"
B_NG2=("$R_RPS" "$R_P50" "$R_P99" "$R_P999" "$R_BUSY")
# Context, not the target: a quarter of peak shows how much of the tail is CPU contention.
B_GG4_RATE=$(half "$B_GG_RATE")
run_rate "gumgate verify (hit) at a quarter of peak" "$B_GG4_RATE" "$GG_VERIFY" "${OHA_VERIFY[@]}"
B_GG4=("$R_RPS" "$R_P50" "$R_P99" "$R_P999" "$R_BUSY")
B_PASS=$(awk -v p="${B_GG[2]}" 'BEGIN { print (p < 2.0) ? "met" : "MISSED" }')

# c) passthrough overhead --------------------------------------------------------------------
log "c) admin GET /v2/user: direct vs nginx proxy_pass vs gumgate ($DURATION)"
curl -sf -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" "http://$HOST:$GG/v2/user" \
    || die "gumgate's admin passthrough did not answer 200"
c_sb=() c_ng=() c_gg=()   # "rps p50 p99 cpu" per run
for run in $(seq 1 "$RUNS"); do
    curl -s -X DELETE "http://$HOST:$SB/_sandbox/requests" >/dev/null
    T0=$(cpu_ticks "$SB_PID")
    run_wrk "sandbox direct /gumroad/v2/user, run $run" "http://$HOST:$SB/gumroad/v2/user" \
        -H "Authorization: Bearer $MATON_KEY"
    c_sb+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$SB_PID") - T0)) "$REQS")")
    curl -s -X DELETE "http://$HOST:$SB/_sandbox/requests" >/dev/null
    T0=$(cpu_ticks "$NG_PID")
    run_wrk "nginx proxy_pass /v2/user, run $run" "http://$HOST:$NG/v2/user"
    c_ng+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$NG_PID") - T0)) "$REQS")")
    curl -s -X DELETE "http://$HOST:$SB/_sandbox/requests" >/dev/null
    T0=$(cpu_ticks "$GG_PID")
    run_wrk "gumgate passthrough /v2/user, run $run" "http://$HOST:$GG/v2/user" \
        -H "Authorization: Bearer $ADMIN_TOKEN"
    c_gg+=("$RPS $P50 $P99 $(cpu_us_per_req $(($(cpu_ticks "$GG_PID") - T0)) "$REQS")")
done
curl -s -X DELETE "http://$HOST:$SB/_sandbox/requests" >/dev/null
medians() { local i; for i in 1 2 3 4; do col_median "$i" "$@"; done; }
mapfile -t C_SB < <(medians "${c_sb[@]}")
mapfile -t C_NG < <(medians "${c_ng[@]}")
mapfile -t C_GG < <(medians "${c_gg[@]}")

for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
PIDS=()

# d) memory after a million cached answers ----------------------------------------------------
log "d) filling a fresh gumgate with $FILL_COUNT distinct verify answers"
SB2=$(free_port); GG2=$(free_port); GG2M=$(free_port)
# Seeding a million licenses takes the sandbox a while on a busy machine.
WAIT_TRIES=1200 start_sandbox "$SB2" --extra-licenses "$FILL_COUNT"
SB2_PID=$LAST_PID
start_gumgate "$GG2" "$GG2M" "$SB2" GUMGATE__CACHE__MAX_BYTES=2000000000
GG2_PID=$LAST_PID
D_RSS_EMPTY=$(rss_kb "$GG2_PID")
ENTRIES_METRIC='gumgate_cache_entries{cache="verify"}'
FILL_THREADS=$THREADS PRODUCT_ID=$PRODUCT_ENC FILL_COUNT=$FILL_COUNT \
    wrk -t"$THREADS" -c"$FILL_CONNECTIONS" -d"${FILL_TIMEOUT}s" -s "$BENCH/lua/fill.lua" \
    "http://$HOST:$GG2/v2/licenses/verify" >"$WORK/fill.out" 2>&1 &
FILL_PID=$!
PIDS+=("$FILL_PID")
FILL_START=$(date +%s)
ENTRIES=0
while kill -0 "$FILL_PID" 2>/dev/null; do
    sleep 2
    ENTRIES=$(metric "$GG2M" "$ENTRIES_METRIC")
    ENTRIES=${ENTRIES:-0}
    # The sandbox records every request it answers; forget them so its memory stays flat.
    curl -s -X DELETE "http://$HOST:$SB2/_sandbox/requests" >/dev/null || true
    printf '\r%s: %s entries after %ss ' "$ENTRIES_METRIC" "$ENTRIES" $(($(date +%s) - FILL_START)) >&2
    [ "$ENTRIES" -ge "$FILL_COUNT" ] && break
done
FILL_SECS=$(($(date +%s) - FILL_START))
kill -INT "$FILL_PID" 2>/dev/null || true
wait "$FILL_PID" 2>/dev/null || true
echo >&2
cat "$WORK/fill.out" >&2
sleep 1
ENTRIES=$(metric "$GG2M" "$ENTRIES_METRIC")
D_BYTES_METRIC=$(metric "$GG2M" 'gumgate_cache_bytes{cache="verify"}')
[ "${ENTRIES:-0}" -ge "$FILL_COUNT" ] || log "WARNING: only $ENTRIES entries after ${FILL_SECS}s (FILL_TIMEOUT)"
D_RSS=$(rss_kb "$GG2_PID")
D_SB_RSS=$(rss_kb "$SB2_PID")
D_MB=$(awk -v k="$D_RSS" 'BEGIN { printf "%.1f", k / 1024 }')
D_PER=$(awk -v k="$D_RSS" -v n="$ENTRIES" 'BEGIN { printf "%.0f", k * 1024 / n }')
D_PER_NET=$(awk -v k="$D_RSS" -v e="$D_RSS_EMPTY" -v n="$ENTRIES" 'BEGIN { printf "%.0f", (k - e) * 1024 / n }')
D_PASS=$(awk -v b="$D_PER_NET" -v n="$ENTRIES" \
    'BEGIN { print (n >= 1000000 && b <= 700) ? "met" : ((n < 1000000) ? "n/a (fewer than 1,000,000)" : "MISSED") }')

# ---------------------------------------------------------------- report
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
cat <<EOF

## Gumgate benchmark ($(date -u +%Y-%m-%d), $(git -C "$ROOT" rev-parse --short HEAD))

Machine: $(nproc) cores ($CPU), loopback only. The load generator, Gumgate, nginx and the
sandbox share these cores, so every figure is a lower bound for each server and the ratios
matter more than the absolute numbers. nginx runs 2 worker processes (Gumgate's runtime has
one worker thread per core: 2). wrk: -t$THREADS -c$CONNECTIONS -d$DURATION; oha at a fixed
rate with latency correction, -c$CONNECTIONS -z$DURATION. Verify body: $BODY_BYTES bytes.

### a) Cache-hit verify (\`POST /v2/licenses/verify\`, one seeded valid key; medians of $RUNS alternating runs)

| server | req/s | p50 ms | p99 ms | server CPU µs/request |
|---|---:|---:|---:|---:|
| Gumgate (\`$GG_CACHE\`) | $A_GG_RPS | $A_GG_P50 | $A_GG_P99 | $A_GG_CPU |
| nginx proxy_cache (\`X-Cache-Status: $NG_CACHE\`) | $A_NG_RPS | $A_NG_P50 | $A_NG_P99 | $A_NG_CPU |
| **Gumgate / nginx** | **$A_RATIO** | | | |
| Gumgate replica in cluster mode (Redis; \`$GC_CACHE\`) | $A_GC_RPS | $A_GC_P50 | $A_GC_P99 | $A_GC_CPU |
| cluster replica / single node | $A_GC_RATIO | | | |
| Gumgate with the access log on (the default: one line per answer) | $A_LOG_RPS | $A_LOG_P50 | $A_LOG_P99 | |

Redis commands while the cluster replica served $GC_REQS hits: $GC_REDIS (each \`INFO\` read excluded).

### b) Latency at half of peak (fixed rate, $RATE_TOOL)

| server | target req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | both cores busy % |
|---|---:|---:|---:|---:|---:|---:|
| Gumgate | $B_GG_RATE | ${B_GG[0]} | ${B_GG[1]} | ${B_GG[2]} | ${B_GG[3]} | ${B_GG[4]} |
| nginx (half its peak) | $B_NG_RATE | ${B_NG[0]} | ${B_NG[1]} | ${B_NG[2]} | ${B_NG[3]} | ${B_NG[4]} |
| nginx (Gumgate's rate) | $B_GG_RATE | ${B_NG2[0]} | ${B_NG2[1]} | ${B_NG2[2]} | ${B_NG2[3]} | ${B_NG2[4]} |
| Gumgate (a quarter of its peak, context) | $B_GG4_RATE | ${B_GG4[0]} | ${B_GG4[1]} | ${B_GG4[2]} | ${B_GG4[3]} | ${B_GG4[4]} |

Target: Gumgate p99 < 2 ms at half of its peak: **$B_PASS** (${B_GG[2]} ms).

### c) Admin passthrough (\`GET /v2/user\`), wrk -t$THREADS -c$CONNECTIONS; medians of $RUNS alternating runs

| path | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | CPU µs/request (of the proxy, or the sandbox for direct) |
|---|---:|---:|---:|---:|---:|---:|
| sandbox direct (baseline) | ${C_SB[0]} | ${C_SB[1]} | ${C_SB[2]} | | | ${C_SB[3]} |
| nginx proxy_pass | ${C_NG[0]} | ${C_NG[1]} | ${C_NG[2]} | $(minus "${C_NG[1]}" "${C_SB[1]}") | $(minus "${C_NG[2]}" "${C_SB[2]}") | ${C_NG[3]} |
| Gumgate passthrough | ${C_GG[0]} | ${C_GG[1]} | ${C_GG[2]} | $(minus "${C_GG[1]}" "${C_SB[1]}") | $(minus "${C_GG[2]}" "${C_SB[2]}") | ${C_GG[3]} |

### d) Resident memory after caching distinct verify answers

| figure | value |
|---|---:|
| \`$ENTRIES_METRIC\` | $ENTRIES |
| fill time (wrk -t$THREADS -c$FILL_CONNECTIONS, misses through the sandbox) | ${FILL_SECS} s |
| Gumgate VmRSS before the fill | $((D_RSS_EMPTY / 1024)) MB |
| **Gumgate VmRSS after the fill** | **$D_MB MB** |
| bytes per entry (whole RSS / entries) | $D_PER |
| bytes per entry (RSS growth / entries) | $D_PER_NET |
| \`gumgate_cache_bytes{cache="verify"}\` (Gumgate's own weighing) | ${D_BYTES_METRIC:-n/a} |
| sandbox VmRSS (not part of the target) | $((D_SB_RSS / 1024)) MB |

Target: at most 700 resident bytes per cached answer (RSS growth / entries) at 1,000,000: **$D_PASS**.
EOF
