#!/usr/bin/env bash
# Starts a server on the built sample policies, runs `policy-host bench load`
# against it (without and with a 16 KiB JSON body), and stops it.
set -euo pipefail
bin="${1:-target/release/policy-host}"
policies="${2:-build/policies}"
dir="$(mktemp -d)"
socket="$dir/executor.sock"
"$bin" serve --policies "$policies" --socket "$socket" --log-level warn &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do [ -S "$socket" ] && break; sleep 0.1; done
"$bin" bench load --socket "$socket" --concurrency 1,16,64
"$bin" bench load --socket "$socket" --concurrency 1,16,64 --policy python-json-body-transform --body-kib 16
