"""The build-time warm-up's parts: synthetic input, the stand-in handler,
the bounds it runs under and what it puts back afterwards.

The glue runs each phase `PASSES` times on synthetic input while the
component is built, so the snapshot holds the interpreter state a first
call would otherwise build (specialised bytecode, caches, the glue's own
first-use work, the modules a handler imports inside functions). Nothing
here interrupts a handler that runs too long: a tracer (sys.settrace)
would, but switching tracing off leaves every code object to be
re-instrumented on its first run, in every fresh instance. Instead the
builder watches the marker file written around the warm-up (killing the
build when it stays at "begin" too long) and the snapshot's memory size,
and then builds again with policy_host_build_options.WARM_UP_HANDLER =
False, which warms the glue with `stand_in` instead of the policy's
handler.
"""

import json
import sys

from sdk import policy as sdk

import policy_host_snapshot

# Each pass specialises more of the bytecode a call runs.
PASSES = 4
# Deep recursion would exhaust the build's Wasm stack (a trap fails the
# build), so the warm-up keeps CPython's default limit.
RECURSION_LIMIT = 1000
MARKER_FILE = "policy_host_warm_up.txt"

_json_dumps = json.dumps


class Inputs:
    """Synthetic input for the build-time warm-up: no tenant data. Its
    methods stand in for the `call-input` imports (`imports()`)."""

    phase = "on_request"

    def imports(self):
        """The four `call-input` functions, answered from this object."""
        return {"context": self.context, "params": self.params, "body": self.body, "log": self.log}

    def context(self):
        headers = {"content-type": "application/json", "host": "warm-up.invalid"}
        return _json_dumps(
            {
                "phase": self.phase,
                "shared": {"request_id": "warm-up", "metadata": {}},
                "policy": {},
                "request": {
                    "headers": headers, "path": "/", "method": "POST", "authority": "warm-up.invalid",
                    "scheme": "https", "body_present": True, "end_of_stream": True,
                },
                "response": {
                    "request_headers": headers, "request_path": "/", "request_method": "POST",
                    "request_body_present": True, "response_headers": headers,
                    "response_status": 200, "response_body_present": True,
                },
            }
        )

    def params(self):
        return "{}"

    def body(self, kind):
        return b'{"warm-up": true}'

    def log(self, level, message):
        pass


def run_phases(handler, inputs):
    """Calls each phase of `handler` PASSES times; failures are ignored (the
    policy sees real input at run time)."""
    for phase in ("on_request", "on_response") * PASSES:
        inputs.phase = phase
        try:
            getattr(handler, phase)()
        except BaseException:  # noqa: BLE001  (warm-up must never fail the build)
            pass


def use_policy_handler():
    """Whether the warm-up runs the policy's handler (the default) or
    `stand_in` (the builder's second try)."""
    try:
        from policy_host_build_options import WARM_UP_HANDLER
    except ImportError:
        return True
    return bool(WARM_UP_HANDLER)


def stand_in(ctx, params):
    """Exercises the glue's paths like a typical policy, touching no policy code."""
    if isinstance(ctx, sdk.RequestContext):
        ctx.body.content
        return sdk.UpstreamRequestModifications(set_headers={"x-warm-up": ctx.path}, remove_headers=[])
    ctx.response_body.content
    return sdk.UpstreamResponseModifications(set_headers={"x-warm-up": "1"}, status_code=200)


def bound_recursion():
    """Caps the recursion limit (policy code raising it included) at
    RECURSION_LIMIT; returns the function that lifts the cap."""
    limit, set_limit = sys.getrecursionlimit(), sys.setrecursionlimit
    set_limit(min(limit, RECURSION_LIMIT))
    sys.setrecursionlimit = lambda new: set_limit(min(new, RECURSION_LIMIT))

    def lift():
        sys.setrecursionlimit = set_limit
        set_limit(limit)

    return lift


def save_namespaces(modules):
    """A copy of each module's globals, for `restore_namespaces`."""
    return [(vars(module), dict(vars(module))) for module in modules]


def restore_namespaces(saved):
    """Puts back every global the warm-up (policy code included) rebound."""
    for namespace, values in saved:
        namespace.update(values)


def restore_modules(before):
    """Puts back modules the warm-up replaced or removed in sys.modules
    (modules it imported stay: they are part of what the warm-up is for)."""
    for name, module in before.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module


def marker(what):
    """Tells the builder (which cannot see our output until componentize-py
    exits) that the warm-up began or ended."""
    policy_host_snapshot.write_beside_glue(MARKER_FILE, what.encode())
