#!/usr/bin/env bash
# Side by side in one run: our server against a stand-in for the Python
# executor it replaces (wasm-python/reference_executor.py, written here from
# SPEC.md), with the same client, the same policies and the same inputs.
# Levels alternate between the two servers, twice each, so that the VM's
# drift shows up as spread instead of as a difference.
#
# Usage: bench-reference.sh [BIN] [POLICY_OUT] [SECONDS] (BIN and POLICY_OUT
# relative to the current directory; the samples are the project's own).
# Installs grpcio into wasm-python/.venv-reference (pinned) on first use.
set -euo pipefail
bin="${1:-target/release/policy-host}"
policies="${2:-build/policies}"
seconds="${3:-5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-reference"
samples="$here/../sample-policies"
grpc_version="1.85.1"

if ! "$venv/bin/python" -c "import grpc, grpc_tools, jsonschema" 2>/dev/null; then
  echo "installing grpcio $grpc_version and the samples' requirements into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "grpcio==$grpc_version" "grpcio-tools==$grpc_version"
  for requirements in "$samples"/*/requirements.txt; do
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  done
fi

dir="$(mktemp -d)"
ours="$dir/ours.sock"
theirs="$dir/reference.sock"
"$bin" serve --policies "$policies" --socket "$ours" --log-level error &
ours_pid=$!
"$venv/bin/python" "$here/reference_executor.py" "$theirs" "$samples"/* >"$dir/reference.log" 2>&1 &
theirs_pid=$!
trap 'kill -TERM "$ours_pid" "$theirs_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do [ -S "$ours" ] && [ -S "$theirs" ] && break; sleep 0.1; done
[ -S "$ours" ] || { echo "policy-host serve did not start" >&2; exit 1; }
[ -S "$theirs" ] || { cat "$dir/reference.log" >&2; exit 1; }

level() { # server-name socket pid args...
  local name="$1" socket="$2" pid="$3"
  shift 3
  echo "## $name: $*"
  "$bin" bench load --socket "$socket" --server-pid "$pid" --seconds "$seconds" "$@" \
    | grep -E '^\| [a-z]|server CPU' | grep -v '^| policy |'
}

run_pair() {
  for _ in 1 2; do
    level reference "$theirs" "$theirs_pid" "$@"
    level policy-host "$ours" "$ours_pid" "$@"
  done
}

run_pair --concurrency 64
run_pair --concurrency 16 --policy python-json-body-transform --body-kib 16
run_pair --concurrency 16 --policy python-json-body-transform --body-kib 64
