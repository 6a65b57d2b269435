#!/usr/bin/env bash
# Side by side in one run: our server against a stand-in for the Python
# executor it replaces (wasm-python/reference_executor.py, written here from
# SPEC.md), with the same client, the same policies and the same inputs.
# Levels alternate between the two servers, PAIRS times each (default 2),
# so that the VM's drift shows up as spread instead of as a difference;
# each level ends with our server CPU per call over the stand-in's, pair by
# pair, their median and the pooled ratio (sum over sum).
#
# Usage: [PAIRS=N] [LEVELS="header 16 64"] bench-reference.sh [BIN]
# [POLICY_OUT] [SECONDS] (BIN and POLICY_OUT relative to the current
# directory; the samples are the project's own). LEVELS picks among the
# header policy at 64 in flight and the JSON transform with 16 and 64 KiB
# bodies at 16 in flight. Installs grpcio into wasm-python/.venv-reference
# (pinned) on first use.
set -euo pipefail
bin="${1:-target/release/policy-host}"
policies="${2:-build/policies}"
seconds="${3:-5}"
pairs="${PAIRS:-2}"
levels="${LEVELS:-header 16 64}"
for which in $levels; do
  case "$which" in
    header | 16 | 64) ;;
    *) echo "unknown level '$which' in LEVELS (header, 16 or 64)" >&2; exit 2 ;;
  esac
done
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

level() { # server-name socket pid args...: prints the rows, returns the CPU in $cpu
  local name="$1" socket="$2" pid="$3"
  shift 3
  echo "## $name: $*"
  local rows
  rows="$("$bin" bench load --socket "$socket" --server-pid "$pid" --seconds "$seconds" "$@" \
    | grep -E '^\| [a-z]|server CPU' | grep -v '^| policy |')"
  echo "$rows"
  cpu="$(echo "$rows" | sed -n 's/.*server CPU \([0-9.]*\) µs.*/\1/p' | tail -1)"
}

run_pair() {
  local ratios=() theirs_cpu ours_cpu
  for _ in $(seq 1 "$pairs"); do
    level reference "$theirs" "$theirs_pid" "$@"
    theirs_cpu="$cpu"
    level policy-host "$ours" "$ours_pid" "$@"
    ours_cpu="$cpu"
    ratios+=("$ours_cpu $theirs_cpu")
  done
  local summary list median pooled
  summary="$(printf '%s\n' "${ratios[@]}" | awk '$1 > 0 && $2 > 0 { printf "%.4f %s %s\n", $1 / $2, $1, $2 }')"
  if [ -z "$summary" ]; then
    echo "## our CPU per call over the stand-in's ($*): no CPU figures"
    return
  fi
  list="$(echo "$summary" | awk '{ printf " %.2f", $1 }')"
  median="$(echo "$summary" | sort -n | awk '{ r[NR] = $1 } END { print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')"
  pooled="$(echo "$summary" | awk '{ ours += $2; theirs += $3 } END { print ours / theirs }')"
  LC_NUMERIC=C printf "## our CPU per call over the stand-in's (%s):%s; median %.2f, pooled %.2f\n" \
    "$*" "$list" "$median" "$pooled"
}

for which in $levels; do
  case "$which" in
    header) run_pair --concurrency 64 ;;
    *) run_pair --concurrency 16 --policy python-json-body-transform --body-kib "$which" ;;
  esac
done
