"""Native CPython reference for `policy-host bench`: runs a policy's phase
function in-process, the way the old executor did, and prints timing JSON.

argv[1] is a JSON spec: policy_dir, sdk_root, deps, phase, context (the
guest-glue context JSON), bodies, params, calls.
"""

import json
import sys
import time

spec = json.loads(sys.argv[1])
sys.path[:0] = [spec["sdk_root"], spec["policy_dir"], spec["deps"]]

from sdk import policy as sdk  # noqa: E402

import policy  # noqa: E402


def shared(raw):
    return sdk.SharedContext(**{k: v for k, v in raw.items()})


def body(text):
    return None if text is None else sdk.Body(content=text.encode(), end_of_stream=True, present=True)


def context():
    # The context JSON leaves out empty fields; missing ones get the SDK's defaults.
    raw = spec["context"]
    if spec["phase"] == "on_request":
        r = raw["request"]
        return sdk.RequestContext(
            shared=shared(raw["shared"]), headers=dict(r.get("headers", {})),
            body=body(spec["bodies"].get("request")), path=r.get("path", ""), method=r.get("method", ""),
            authority=r.get("authority", ""), scheme=r.get("scheme", ""),
        )
    r = raw["response"]
    return sdk.ResponseContext(
        shared=shared(raw["shared"]), request_headers=dict(r.get("request_headers", {})),
        request_body=body(spec["bodies"].get("request")), request_path=r.get("request_path", ""),
        request_method=r.get("request_method", ""), response_headers=dict(r.get("response_headers", {})),
        response_body=body(spec["bodies"].get("response")), response_status=r["response_status"],
    )


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
