#!/usr/bin/env bash
# The side-by-side comparison: the peer harness (PostGraphile, Apollo Server with
# DataLoader, Strawberry on SQLAlchemy, and the pgbench floor) with the gateway as its
# extra target, on the gateway's own tables, then the same request against the gateway
# on the SQLite default. Prints the harness's table and the SQLite row.
#
#   tests/bench/compare.sh                 # everything (~10 minutes, more on first use)
#   PEERS= FLOOR=0 tests/bench/compare.sh  # the gateway alone
#
# GATEWAY_BIN: a gateway binary to measure instead of building this checkout's release.
# BENCH_DIR: the harness (default ../shared/bench beside the repository). It is copied
# to BENCH_WORK (default /var/tmp/gateway-bench, readable by the postgres user the harness runs its database as) because it installs its tools and keeps
# its database under its own folder; the copy is reused between runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
BENCH_WORK="${BENCH_WORK:-/var/tmp/gateway-bench}"
PORT="${GATEWAY_BENCH_PORT:-8000}"
CONC="${CONC:-32}"
DURATION="${DURATION:-15}"

[ -x "$BENCH_DIR/bench.sh" ] || { echo "no harness at $BENCH_DIR (set BENCH_DIR)" >&2; exit 1; }

. "$ROOT/tests/bench/lib.sh"
GW="$(gateway_binary)"

mkdir -p "$BENCH_WORK"
# Refresh the harness's own files; keep its installs (node_modules, .venv) and run/.
(cd "$BENCH_DIR" && tar --exclude=./run --exclude=./node_modules --exclude=./.venv -cf - .) \
  | (cd "$BENCH_WORK" && tar -xf -)
cp "$ROOT/tests/bench/gateway.graphql" "$BENCH_WORK/queries/gateway.graphql"

# One secret for the token minted here and the server the harness starts.
export JWT_SECRET="${JWT_SECRET:-gateway-bench-secret-0123456789abcdef}"
# A read benchmark: this process executes no runs (the seed's RUNNING runs have no
# lease and would otherwise be taken over), and the load generator is one client at
# one address, so the per-user and per-address rate limits are off.
GATEWAY_ENV="RUN_WORKERS=0 RUN_SCHEDULE_POLL_MS=0 RATE_LIMIT_IP_PER_MINUTE=0 RATE_LIMIT_USER_PER_MINUTE=0 RUST_LOG=warn DATA_DIR=$BENCH_WORK/run/gateway-data"

PG_URL=postgres://postgres@127.0.0.1:55432/bench
cleanup() { "$BENCH_WORK/bench.sh" db-stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== database: the gateway's migrations, then the harness's seed"
SCHEMA_CMD="$GW migrate" "$BENCH_WORK/bench.sh" db-start
# org-7's seeded API quota (7,000 requests a month) is a plan limit the load would
# cross within seconds; the benchmark measures reads, not the quota refusal.
PGOPTIONS='-c client_min_messages=warning' psql -X -q -h 127.0.0.1 -p 55432 -U postgres -d bench \
  -c "UPDATE organizations SET api_quota_limit = 2000000000, api_quota_used = 0 WHERE slug = 'org-7'"
# PostGraphile reflects these tables too. Its names for them differ from the harness's
# query where the gateway's schema differs from the harness's own: the billing table
# `subscriptions` would take the root `Subscription` type's name, relations to a team or a
# run are composite foreign keys (organization, id), and ordering needs an index. Smart
# comments, on the benchmark database only, give it the harness's names.
PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 55432 -U postgres -d bench <<'SQL'
COMMENT ON TABLE subscriptions IS E'@name billing_subscriptions';
COMMENT ON CONSTRAINT roles_organization_id_team_id_fkey ON roles IS E'@foreignFieldName rolesByTeamId';
COMMENT ON CONSTRAINT runs_organization_id_team_id_fkey ON runs IS E'@foreignFieldName runsByTeamId';
COMMENT ON CONSTRAINT run_steps_organization_id_run_id_fkey ON run_steps IS E'@foreignFieldName runStepsByRunId';
COMMENT ON COLUMN teams.name IS E'@behavior +orderBy';
COMMENT ON COLUMN roles.title IS E'@behavior +orderBy';
COMMENT ON COLUMN runs.created_at IS E'@behavior +orderBy';
COMMENT ON COLUMN run_steps.position IS E'@behavior +orderBy';
SQL
TOKEN="$(env $GATEWAY_ENV DATABASE_URL=$PG_URL "$GW" token --user user1@org7.example)"

echo "== harness"
(
  cd "$BENCH_WORK"
  SCHEMA_CMD="$GW migrate" \
  EXTRA_NAME=gateway \
  EXTRA_URL="http://127.0.0.1:$PORT/graphql" \
  EXTRA_QUERY=queries/gateway.graphql \
  EXTRA_HEADERS="Authorization: Bearer $TOKEN" \
  EXTRA_CMD="exec env $GATEWAY_ENV $GW --listen 127.0.0.1:$PORT" \
  ./bench.sh
)

echo "== the same request on SQLite (gateway seed --bench)"
LITE="$BENCH_WORK/run/sqlite"
rm -rf "$LITE" && mkdir -p "$LITE"
env $GATEWAY_ENV DATA_DIR="$LITE" DATABASE_URL="$LITE/gateway.db" "$GW" seed --bench >/dev/null
LITE_TOKEN="$(env $GATEWAY_ENV DATA_DIR="$LITE" DATABASE_URL="$LITE/gateway.db" "$GW" token --user user1@org7.example)"
sqlite3_quota() {
  # Same quota change as on PostgreSQL, through the gateway's own SQLite file.
  python3 - "$LITE/gateway.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE organizations SET api_quota_limit = 2000000000, api_quota_used = 0 WHERE slug = 'org-7'")
db.commit()
EOF
}
sqlite3_quota
env $GATEWAY_ENV DATA_DIR="$LITE" DATABASE_URL="$LITE/gateway.db" "$GW" --listen "127.0.0.1:$PORT" \
  >"$LITE/gateway.log" 2>&1 &
LITE_PID=$!
trap 'kill $LITE_PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  sleep 0.1
done
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
bench_request_body "$LITE/body.json"
load() {
  "$OHA" --no-tui -w -z "$2s" -c "$1" -m POST -T application/json \
    -H "Authorization: Bearer $LITE_TOKEN" -D "$LITE/body.json" --output-format json \
    "http://127.0.0.1:$PORT/graphql"
}
load "$CONC" 3 >/dev/null
load "$CONC" "$DURATION" >"$LITE/oha-$CONC.json"
load 1 "$DURATION" >"$LITE/oha-1.json"
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$LITE_PID/status")
python3 - "$LITE/oha-$CONC.json" "$LITE/oha-1.json" "$RSS_KB" "$CONC" <<'EOF'
import json, sys
many, one = (json.load(open(p)) for p in sys.argv[1:3])
ok = lambda r: r["statusCodeDistribution"].get("200", 0)
bad = lambda r: sum(v for k, v in r["statusCodeDistribution"].items() if k != "200")
print()
print(f"| target | req/s @{sys.argv[4]} | p99 ms | p50 ms @1 | RSS MB | non-200 |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| gateway (SQLite) | {many['summary']['requestsPerSec']:.0f} | "
      f"{many['latencyPercentiles']['p99'] * 1000:.1f} | {one['latencyPercentiles']['p50'] * 1000:.1f} | "
      f"{int(sys.argv[3]) / 1024:.0f} | {bad(many) + bad(one)} |")
EOF
