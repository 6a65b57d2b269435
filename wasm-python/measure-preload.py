#!/usr/bin/env python3
"""Measures what each preloaded standard-library module adds to a component.

Builds a minimal component (the SDK only) without preloads, then once per
module with just that module imported, and prints a Markdown table of the
size each adds (bytes of .wasm: the snapshot's heap plus the module's code).
Usage: wasm-python/measure-preload.py [componentize-py] [--each]
(--each builds once per module: ~15 s each)
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PRELOAD = os.path.join(HERE, "guest", "policy_host_preload.py")
WIT = os.path.join(HERE, "wit")
SDK_ROOT = os.path.dirname(HERE)


def modules():
    with open(PRELOAD) as handle:
        return [m.group(1) for m in re.finditer(r"^import (\S+)", handle.read(), re.M)]


APP = """
import sdk.policy
{imports}
import wit_world
from wit_world.exports import handler


class Handler(wit_world.exports.Handler):
    def describe(self):
        return "{{}}"

    def on_request(self):
        return handler.Outcome(action="null", body=None, metadata="{{}}")

    def on_response(self):
        return handler.Outcome(action="null", body=None, metadata="{{}}")
"""


def build(tool, imports):
    with tempfile.TemporaryDirectory() as work:
        app = os.path.join(work, "app")
        os.makedirs(app)
        with open(os.path.join(app, "measure_app.py"), "w") as handle:
            handle.write(APP.format(imports="\n".join(f"import {m}" for m in imports)))
        sdk_dir = os.path.join(work, "sdkroot")
        os.makedirs(os.path.join(sdk_dir, "sdk"))
        for name in ("__init__.py", "policy.py"):
            with open(os.path.join(SDK_ROOT, "sdk", name)) as src, open(os.path.join(sdk_dir, "sdk", name), "w") as dst:
                dst.write(src.read())
        out = os.path.join(work, "out.wasm")
        subprocess.run(
            [tool, "-d", WIT, "-w", "policy", "componentize", "measure_app", "-p", app, "-p", sdk_dir, "-o", out],
            check=True,
            capture_output=True,
        )
        return os.path.getsize(out)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tool = args[0] if args else os.path.join(HERE, ".venv", "bin", "componentize-py")
    base = build(tool, [])
    again = build(tool, [])
    everything = build(tool, modules())
    print(f"Baseline (SDK only): {base / 1024 / 1024:.2f} MiB; rebuilt: {(again - base) / 1024:+.0f} KiB (noise)")
    print(f"All {len(modules())} preloaded modules: {(everything - base) / 1024:+.0f} KiB")
    if "--each" in sys.argv:
        print("| module | adds (KiB) |\n|---|---|")
        for module in modules():
            print(f"| `{module}` | {(build(tool, [module]) - base) / 1024:+.0f} |", flush=True)


if __name__ == "__main__":
    main()
