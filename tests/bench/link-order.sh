#!/usr/bin/env bash
# Writes src/link/start-order.txt and src/link/start-order.ld, with which release builds
# on Linux link (src/build.rs): the functions the gateway runs while it starts go
# together at the front of its code, then those a read of the benchmark's query runs.
#
# Why: the executable's code is about 34 MB, and the 4 MB or so that start-up runs are
# spread all over it; the kernel maps file pages around each one it faults in (64 KB at
# a time here), so an idle gateway held 16 MB of its own code.
#
# How: a release binary starts under callgrind, with the default configuration and the
# migrations applied, on PostgreSQL and on SQLite; the functions run until it is ready
# (and its background tasks have had their first turns) are the start list, those run by
# two reads of the benchmark's query the second. start-order.txt names their exact
# symbols, in that order (the linker's symbol order file). Symbols carry hashes that
# change with the compiler or the dependencies, so start-order.ld also gathers the start
# list's functions by name with the hash left open: a stale list still keeps them
# together, less tightly.
#
#   tests/bench/link-order.sh      # after changes that move start-up; then rebuild
#
# GATEWAY_BIN: the binary to profile (default: this checkout's release build).
# LINK_ORDER_DATABASE_URL: a PostgreSQL server to create a scratch database on.
# Needs valgrind (callgrind_control), nm, curl, psql, python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/src/link/start-order"
PG_SERVER="${LINK_ORDER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_URL="${PG_SERVER%/*}/gateway_link_order"
PORT="${LINK_ORDER_PORT:-8125}"
WORK="$(mktemp -d)"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  psql -X -q -d "$PG_SERVER" -c 'DROP DATABASE IF EXISTS gateway_link_order' 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in valgrind callgrind_control nm curl python3 psql; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
. "$ROOT/tests/bench/lib.sh"
GW="$(gateway_binary)"

# The default configuration (run workers and schedule polling on), as a user starts it.
export JWT_SECRET=link-order-secret-0123456789abcdef RUST_LOG=warn
bench_request_body "$WORK/body.json"

# profile NAME DATABASE_URL: start-up, then two reads, each dumped on its own. A step
# that fails prints the server's and the commands' output.
profile() {
  local name=$1 url=$2 token
  export DATABASE_URL="$url" DATA_DIR="$WORK/$name"
  mkdir -p "$DATA_DIR"
  trap 'cat "$WORK/$name".*log >&2' ERR
  "$GW" migrate >>"$WORK/$name.cmd.log" 2>&1
  "$GW" seed --bench >>"$WORK/$name.cmd.log" 2>&1
  token="$("$GW" token --user user1@org7.example 2>>"$WORK/$name.cmd.log")"
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/$name.cg" \
    "$GW" --listen "127.0.0.1:$PORT" >"$WORK/$name.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
    sleep 0.2
  done
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"
  # Background tasks (run workers, schedules, the usage writer) take their first turns.
  sleep 3
  callgrind_control -d "$SERVER_PID" >>"$WORK/$name.cmd.log" 2>&1
  for _ in 1 2; do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data @"$WORK/body.json" "http://127.0.0.1:$PORT/graphql"
  done
  callgrind_control -d "$SERVER_PID" >>"$WORK/$name.cmd.log" 2>&1
  kill "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=
  trap - ERR
}

PGOPTIONS='-c client_min_messages=warning' psql -X -q -d "$PG_SERVER" -c 'DROP DATABASE IF EXISTS gateway_link_order' \
  -c 'CREATE DATABASE gateway_link_order'
profile postgres "$PG_URL"
profile sqlite "$WORK/sqlite/gateway.db"

nm --defined-only "$GW" | awk '$2 ~ /^[tTwW]$/ {print $3}' >"$WORK/symbols"
python3 - "$WORK" "$OUT" <<'EOF'
import re, sys
work, out = sys.argv[1:3]
symbols = set(open(f"{work}/symbols").read().split())

def functions(path):
    names = []
    for line in open(path):
        m = re.match(r"c?fn=\(\d+\) (.+)", line)
        if m and m.group(1) in symbols:
            names.append(m.group(1))
    return names

start, reads = [], []
for backend in ("postgres", "sqlite"):
    start += functions(f"{work}/{backend}.cg.1")
    reads += functions(f"{work}/{backend}.cg.2")
# Sorted within each list, so that a new profile changes only what start-up changed.
start = sorted(set(start))
reads = sorted(set(reads) - set(start))
if len(start) < 1000:
    sys.exit(f"only {len(start)} functions found at start (a stripped binary?): nothing written")

def unhashed(name):
    # Legacy symbols end in a hash of the crate's metadata and the instance; ThinLTO's
    # promoted locals also carry a hash of their module. Both change without the code
    # changing.
    llvm = re.search(r"\.llvm\.\d+$", name)
    if llvm:
        name = name[: llvm.start()]
    name = re.sub(r"17h[0-9a-f]{16}E$", "17h*", name)
    return name + ".llvm.*" if llvm else name

fallback = [p for p in dict.fromkeys(map(unhashed, start)) if "*" in p]
with open(f"{out}.txt", "w") as f:
    f.write("".join(f"{name}\n" for name in start + reads))
with open(f"{out}.ld", "w") as f:
    f.write("/* Generated by tests/bench/link-order.sh with start-order.txt: the functions run at\n"
            "   start, by name whatever their hash (the order file places the exact ones first). */\n")
    f.write("SECTIONS\n{\n  .text.start_order : {\n    *(\n")
    for pattern in fallback:
        f.write(f"      .text.{pattern}\n      .text.unlikely.{pattern}\n")
    f.write("    )\n  }\n}\nINSERT BEFORE .text;\n")
print(f"{out}.txt: {len(start)} functions at start, {len(reads)} more for a read; "
      f"{out}.ld: {len(fallback)} names")
EOF
