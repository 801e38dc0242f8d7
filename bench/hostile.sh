#!/usr/bin/env bash
# Resident memory under unfinished request heads: N clients (default 2,000) each send a 380 KB
# request head that never ends, then leave. Prints Gumgate's RSS before, while they are
# connected, and after they have gone (goal: under 100 MB after). Everything runs on 127.0.0.1
# against `serve --sandbox`; the load is bounded in count and time.
#
#   bash bench/hostile.sh               # release build, 2,000 clients
#   CLIENTS=500 BUILD=debug bash bench/hostile.sh
set -euo pipefail

CLIENTS=${CLIENTS:-2000}
HEAD_BYTES=${HEAD_BYTES:-389120}
BUILD=${BUILD:-release}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/$BUILD/gumgate"

if [ "$BUILD" = release ]; then
  (cd "$ROOT" && cargo build --release --locked --bin gumgate >&2)
else
  (cd "$ROOT" && cargo build --locked --bin gumgate >&2)
fi
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# The clients need a descriptor each.
ulimit -n "$(ulimit -Hn)"
GUMGATE__SERVER__LISTEN=127.0.0.1:0 GUMGATE__SERVER__METRICS_LISTEN=127.0.0.1:0 \
  GUMGATE__LOG__FORMAT=json GUMGATE__STORAGE__DATABASE_URL="sqlite://$work/bench.db" \
  "$BIN" serve --sandbox >"$work/log" 2>&1 &
pid=$!
addrs=$(python3 "$ROOT/scripts/listening.py" "$work/log")
api=${addrs%% *}

python3 - "$api" "$pid" "$CLIENTS" "$HEAD_BYTES" <<'PY'
import socket, sys, time

api, pid, clients, head_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host, port = api.rsplit(":", 1)

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

before = rss_mb()
head = b"GET /livez HTTP/1.1\r\nHost: gumgate\r\nX-Pad: " + b"a" * head_bytes
socks, refused, sent = [], 0, 0
deadline = time.time() + 120
for _ in range(clients):
    if time.time() > deadline:
        break
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, int(port)))
        s.sendall(head)  # no blank line: the head never ends
        sent += 1
    except OSError:
        refused += 1
    socks.append(s)
time.sleep(1)
during = rss_mb()
for s in socks:
    s.close()
time.sleep(3)
after = rss_mb()
print(f"clients {clients} (head {head_bytes} bytes): sent {sent}, refused or reset {refused}")
print(f"RSS before {before:.1f} MB, with them connected {during:.1f} MB, after they left {after:.1f} MB")
PY
