#!/usr/bin/env bash
# Instructions per fresh call, by phase, under callgrind (deterministic,
# unlike wall-clock time on a shared VM). Needs valgrind.
#   wasm-python/bench-instructions.sh [policy-host binary] [policies dir] [policy]
# Counts everything inside CompiledPolicy::call (prepare: new store,
# instantiation, first-export setup; the call on the ready instance;
# the drop) for 20 warm-up + 50 measured calls on one thread.
set -euo pipefail
bin="${1:-target/release/policy-host}"
policies="${2:-build/policies}"
policy="${3:-add-python-header}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*CompiledPolicy::call' \
  "$bin" bench inproc --policies "$policies" --calls 50 --threads 1 \
  --no-reused --no-ahead --no-native --only "$policy" >/dev/null 2>&1
calls=70
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk -v calls="$calls" '
  function add(key) { gsub(",", "", $1); sum[key] += $1 }
  /PROGRAM TOTALS/                                          { add("total") }
  /\?\?\?:policy_host::sandbox::policy::CompiledPolicy::prepare / { add("prepare (made ahead when a worker is idle)") }
  /\?\?\?:policy_host::sandbox::policy::CompiledPolicy::instantiate / { add("  new store and instantiation") }
  /\?\?\?:wasmtime::runtime::instance::Instance::start_raw /  { add("    module startup (element segments)") }
  # Imports of static modules (patch 0005: link plans, link templates;
  # the first instantiation plans inside build_static_imports).
  /\?\?\?:wasmtime::runtime::component::instance::Instantiator::build_static_imports / { add("    import linking") }
  /\?\?\?:policy_host::sandbox::policy::CompiledPolicy::run / { add("the call (critical path)") }
  /\?\?\?:core::ptr::drop_in_place<wasmtime::runtime::store::StoreInner</ { add("drop") }
  END {
    sum["  first-export setup (describe)"] = sum["prepare (made ahead when a worker is idle)"] - sum["  new store and instantiation"]
    n = split("total|prepare (made ahead when a worker is idle)|  new store and instantiation|    module startup (element segments)|    import linking|  first-export setup (describe)|the call (critical path)|drop", order, "|")
    printf "%-44s %12s\n", "instructions per fresh call", "(" calls " calls)"
    for (i = 1; i <= n; i++) printf "%-44s %12.0f\n", order[i], sum[order[i]] / calls
  }'
