#!/usr/bin/env bash
# The cost of metrics: the same load against a server without and with
# --metrics-listen, alternated ROUNDS times, side by side in one run. Prints
# bench load's table and the server's CPU per call for each run.
#   wasm-python/bench-metrics.sh target/release/policy-host build/policies
set -euo pipefail
BIN=${1:?policy-host binary}
POLICIES=${2:?built sample components}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
port=$((20000 + RANDOM % 20000))
for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    socket="$WORK/$mode.sock"
    extra=()
    [ "$mode" = on ] && extra=(--metrics-listen "127.0.0.1:$port")
    "$BIN" serve --policies "$POLICIES" --socket "$socket" --workers 2 "${extra[@]}" \
      2>"$WORK/$mode.log" &
    pid=$!
    for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
    sleep 1
    echo "== round $round, metrics $mode"
    "$BIN" bench load --socket "$socket" --concurrency 16 --seconds "$SECONDS_PER_RUN" \
      --policy add-python-header --server-pid "$pid" 2>/dev/null | grep -E "^\| add|server CPU"
    if [ "$mode" = on ]; then
      curl -s "http://127.0.0.1:$port/metrics" | grep -c '^policy_host_' | sed 's/^/series samples: /'
    fi
    kill "$pid"; wait "$pid" || true
  done
done
