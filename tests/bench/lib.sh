# Shared by the scripts of tests/bench: source it after setting ROOT (the checkout).

# gateway_binary: prints the absolute path of GATEWAY_BIN, or of this checkout's release
# build, which it builds first.
gateway_binary() {
  local bin="${GATEWAY_BIN:-}"
  if [ -z "$bin" ]; then
    echo "== release build" >&2
    (cd "$ROOT" && cargo build --release --locked >&2)
    bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/gateway"
  fi
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

# bench_request_body FILE: the benchmark's query (gateway.graphql) as a JSON request body.
bench_request_body() {
  python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read()}))' \
    "$ROOT/tests/bench/gateway.graphql" >"$1"
}
