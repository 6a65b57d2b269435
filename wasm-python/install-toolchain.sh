#!/usr/bin/env bash
# Installs the pinned componentize-py into a project-local virtualenv
# (wasm-python/.venv, or $POLICY_HOST_TOOLCHAIN_DIR). Idempotent: does nothing
# when the right version is already there. `policy-host build` does the same
# on first use; this script lets `make` do it up front.
set -euo pipefail

version="0.25.1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${POLICY_HOST_TOOLCHAIN_DIR:-$here/.venv}"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/componentize-py" ] && \
   [ "$("$venv/bin/componentize-py" --version 2>/dev/null | awk '{print $2}')" = "$version" ]; then
  exit 0
fi
echo "installing componentize-py $version into $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "componentize-py==$version"
