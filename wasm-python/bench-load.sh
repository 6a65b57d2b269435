#!/usr/bin/env bash
# Starts a server on the built sample policies plus the hostile
# `noisy-neighbour` test policy, runs `policy-host bench load` against it
# (the transport alone, plain, with a 16 KiB JSON body, and with 10 % hostile
# requests), and stops it.
set -euo pipefail
bin="${1:-target/release/policy-host}"
policies="${2:-build/policies}"
dir="$(mktemp -d)"
socket="$dir/executor.sock"
mkdir -p "$dir/policies"
cp "$policies"/*.wasm "$dir/policies/"
"$bin" build tests/policies/noisy-neighbour --out "$dir/policies" >/dev/null
"$bin" serve --policies "$dir/policies" --socket "$socket" --log-level error &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
# The floor: calls the dispatcher answers without a sandbox.
"$bin" bench load --socket "$socket" --concurrency 1,64 --transport-only
"$bin" bench load --socket "$socket" --concurrency 1,16,64
"$bin" bench load --socket "$socket" --concurrency 1,16,64 --policy python-json-body-transform --body-kib 16
# Noisy neighbours: the same load with and without 10 % hostile requests.
"$bin" bench load --socket "$socket" --concurrency 64 --hostile-percent 0
"$bin" bench load --socket "$socket" --concurrency 64 --hostile-percent 10
