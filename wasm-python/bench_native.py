"""Native CPython reference for `policy-host bench`: runs a policy's phase
function in-process, the way the old executor did, and prints timing JSON.

Standard input holds a JSON spec: policy_dir, sdk_root, deps, phase, context (the
SDK view of the context, from `src/contract/sdk_json.rs`), params, calls.
"""

import base64
import json
import sys
import time

spec = json.load(sys.stdin)
sys.path[:0] = [spec["sdk_root"], spec["policy_dir"], spec["deps"]]

from sdk import policy as sdk  # noqa: E402

import policy  # noqa: E402


def _bytes(content):
    if isinstance(content, dict):
        return base64.b64decode(content["base64"])
    return content.encode()


def _body(raw):
    if raw is None:
        return None
    return sdk.Body(content=_bytes(raw["content"]), end_of_stream=raw["end_of_stream"], present=raw["present"])


def _context_factory(view):
    """A function that builds fresh SDK objects from the host's SDK view of
    the context (`sdk_json::sdk_view`: the SDK class and its fields), as
    the old executor decoded each request: the view is sorted out once so
    that each call costs about what its keyword construction did."""
    fields = dict(view)
    cls = getattr(sdk, fields.pop("class"))
    shared = fields.pop("shared")
    bodies = [(name, fields.pop(name)) for name in list(fields) if name.endswith("body")]
    maps = [(name, fields.pop(name)) for name in list(fields) if isinstance(fields[name], dict)]

    def make():
        return cls(
            shared=sdk.SharedContext(**shared),
            **fields,
            **{name: dict(value) for name, value in maps},
            **{name: _body(value) for name, value in bodies},
        )

    return make


context = _context_factory(spec["context"])
function = getattr(policy, spec["phase"])
for _ in range(50):
    function(context(), dict(spec["params"]))
samples = []
cpu_start = time.process_time()
wall_start = time.perf_counter()
for _ in range(spec["calls"]):
    started = time.perf_counter()
    # The old executor decoded the request into fresh SDK objects per call too.
    function(context(), json.loads(json.dumps(spec["params"])))
    samples.append(time.perf_counter() - started)
wall = time.perf_counter() - wall_start
cpu = time.process_time() - cpu_start
samples.sort()


def at(q):
    return samples[round((len(samples) - 1) * q)] * 1e6


print(json.dumps({
    "p50_us": at(0.5), "p90_us": at(0.9), "p99_us": at(0.99),
    "cpu_us_per_call": cpu / len(samples) * 1e6, "calls_per_second": len(samples) / wall,
}))
