"""Guest glue: adapts the WIT `policy` world to a Python policy module.

componentize-py imports this module while it pre-initializes the component,
so everything done at module level here (importing the SDK, the policy, its
dependencies and the preloaded standard library, finding the entry points)
is already done in the snapshot every call starts from.

Per call, `Handler.on_request` / `Handler.on_response`:
1. pulls the context and params JSON through the `call-input` imports and
   builds the SDK dataclasses (policy_host_inputs; bodies are fetched only
   when policy code reads them);
2. calls the policy's entry point, driving a coroutine to completion;
3. encodes the returned action as JSON plus body bytes, with the shared
   metadata after the call (policy_host_action).

At the end of the build it warms the policy up (policy_host_warm_up) and
lists the snapshot's objects for the builder (policy_host_snapshot).

Build-time problems are printed as `policy-host-build-error: <message>`
lines, which `policy-host build` shows to the author.
"""

import sys

import policy_host_preload  # noqa: F401  (the standard library every call can use)
import policy_host_random  # noqa: F401  (random reseeds on first use; before the policy is imported)
import policy_host_output
import policy_host_modules as _modules
import policy_host_network  # noqa: F401  (network attempts raise PermissionError, never trap)
import policy_host_json
import policy_host_entropy

try:
    import ssl  # noqa: F401
except ImportError:  # the guest's CPython has no _ssl: names only, no TLS
    import policy_host_ssl

    sys.modules["ssl"] = policy_host_ssl

import json

# Bound before the policy is imported: policy code may replace attributes of
# the json module (its own business), but not how the glue talks to the host.
# The glue's input and output modules bind theirs as they are imported here.
_json_dumps = json.dumps

from componentize_py_types import Err

import wit_world
from wit_world.exports import handler as wit
from wit_world.imports import call_input, json_codec

import policy_host_inputs as _inputs
import policy_host_action as _action
import policy_host_warm_up as _warm
import policy_host_snapshot

# Before the policy is imported, so that `from json import loads` gets ours too.
policy_host_json.install()
# Before the policy is imported: what it draws while imported is its own.
policy_host_entropy.install()

BUILD_ERROR_PREFIX = "policy-host-build-error: "
MAX_TRACEBACK_CHARS = 16000
MAX_MESSAGE_CHARS = 2000


def _fail_build(message):
    """Stops the build with a message the author can act on."""
    sys.__stderr__.write(BUILD_ERROR_PREFIX + message + "\n")
    sys.__stderr__.flush()
    raise SystemExit(1)


def _import_policy():
    """Imports the author's `policy` module, turning failures into build
    errors that name the file and line that raised (in the policy or in a
    requirement) and, for imports, the missing module."""
    _modules.start_recording()
    try:
        import policy
    except SyntaxError as error:
        location = f"{_modules.display_path(error.filename)}:{error.lineno}"
        _fail_build(f"{location}: {error.msg}")
    except ImportError as error:
        where = _modules.location(error.__traceback__) or "policy.py"
        hint = ""
        if isinstance(error, ModuleNotFoundError):
            hint = " (list third-party packages in requirements.txt; only pure-Python packages work)"
        _fail_build(f"{where}: {_modules.import_error_text(error)}{hint}")
    except BaseException as error:  # noqa: BLE001  (any import-time failure stops the build)
        where = _modules.location(error.__traceback__) or "policy.py"
        _fail_build(f"{where}: importing the policy raised {type(error).__name__}: {error}")
    return policy


# --- the call-input imports outside calls ------------------------------------

_IMPORTS = ("context", "params", "body", "log")
_REAL_IMPORTS = {name: getattr(call_input, name) for name in _IMPORTS}


def _use_imports(functions):
    """Points the `call_input` module's functions (which policy code may also
    hold) at `functions`. The real imports only work inside a call: while the
    component is being built, calling one would abort the build."""
    for name in _IMPORTS:
        setattr(call_input, name, functions[name])


def _outside_a_call(*args):
    raise RuntimeError("the call-input imports are only available while a call runs, not at import time")


_use_imports(dict.fromkeys(_IMPORTS, _outside_a_call))
_policy = _import_policy()
_POLICY_DIR = _modules.policy_dir_of(_policy)


def _entry_points():
    """The policy module's on_request, on_response and get_policy."""
    return tuple(getattr(_policy, name, None) for name in ("on_request", "on_response", "get_policy"))


_on_request, _on_response, _get_policy = _entry_points()
if not callable(_on_request) and not callable(_on_response) and not callable(_get_policy):
    _fail_build(
        "policy.py defines neither on_request(ctx, params) nor on_response(ctx, params) "
        "(nor the deprecated get_policy(metadata, params) factory)"
    )


# --- calling the policy ------------------------------------------------------


def _entry_point(phase, policy_metadata, params):
    """The callable for this phase, or None when the policy lacks it."""
    function = _on_request if phase == "on_request" else _on_response
    if callable(function):
        return function
    if callable(_get_policy):
        instance = _get_policy(policy_metadata, params)
        return getattr(instance, phase, None)
    return None


def _run_to_completion(value):
    """Drives a coroutine returned by an `async def` entry point."""
    if not hasattr(value, "send") or not hasattr(value, "throw"):
        return value
    try:
        while True:
            value.send(None)
    except StopIteration as done:
        return done.value


def _raised(error):
    """The policy's exception as the host reports it: a one-line message, the
    policy's own innermost frame, and the whole traceback (for the log)."""
    trace = _modules.format_traceback(error)
    if len(trace) > MAX_TRACEBACK_CHARS:
        trace = "...\n" + trace[-MAX_TRACEBACK_CHARS:]
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return Err(
        wit.Failure_Raised(
            wit.RaisedException(
                kind=type(error).__name__,
                message=message[:MAX_MESSAGE_CHARS],
                location=_modules.location(error.__traceback__, _POLICY_DIR),
                traceback=trace,
            )
        )
    )


# What the last call built, kept so that it is not freed on return: an
# instance serves one call and is then discarded whole, so freeing the
# call's objects one by one would be work for nothing.
_last_call = [None]


# The host's JSON codec for policy code's json.loads and json.dumps; None
# while the build warms up (the host is not there).
_JSON_CODEC = json_codec


def _call(phase):
    policy_host_json.begin_call(_JSON_CODEC)
    raw, ctx, params, policy_metadata = _inputs.read(phase)
    try:
        function = _entry_point(phase, policy_metadata, params)
        if function is None:
            raise Err(wit.Failure_NotImplemented())
        action = _run_to_completion(function(ctx, params))
    except Err:
        raise
    except BaseException as error:  # noqa: BLE001  (policy code may raise anything)
        raise _raised(error) from None
    _last_call[0] = (raw, ctx, params, policy_metadata, action)
    return _action.encode(phase, action, ctx.shared.metadata)


# --- exports -----------------------------------------------------------------


def _describe():
    if callable(_on_request) or callable(_on_response):
        phases = [name for name, fn in (("on_request", _on_request), ("on_response", _on_response)) if callable(fn)]
        return {"phases": phases, "entry": "functions"}
    return {"phases": ["on_request", "on_response"], "entry": "factory"}


_DESCRIPTION = _json_dumps(_describe())


class Handler(wit_world.exports.Handler):
    """The component's `handler` export."""

    def describe(self):
        """The policy's phases and entry style, found at build time."""
        return _DESCRIPTION

    def on_request(self):
        """Runs the policy's request phase."""
        return _serve("on_request")

    def on_response(self):
        """Runs the policy's response phase."""
        return _serve("on_response")


def _serve(phase):
    """One export call: the policy's output is captured for the host's log
    while it runs."""
    policy_host_output.begin_call()
    try:
        return _call(phase)
    finally:
        policy_host_output.end_call()


def _warm_up():
    """Runs the policy's phases on synthetic input while the component is
    built (policy_host_warm_up), then puts everything back: the glue's and
    its modules' globals, sys.modules, the call-input imports, and the
    policy's modules as import left them (policy_host_modules), so that no
    trace of the warm-up but the interpreter's caches reaches the snapshot.
    """
    global _on_request, _on_response, _get_policy, _JSON_CODEC
    # Taken first: everything below (the stand-in entry points included) is
    # undone from these when the warm-up ends.
    saved = _warm.save_namespaces((sys.modules[__name__], policy_host_output, _inputs, _action))
    inputs = _warm.Inputs()
    _JSON_CODEC = None
    if not _warm.use_policy_handler():
        _on_request = _on_response = _warm.stand_in
        _get_policy = None
    _use_imports(inputs.imports())
    lift_recursion_cap = _warm.bound_recursion()
    modules = dict(sys.modules)
    _warm.marker("begin")
    try:
        _warm.run_phases(Handler(), inputs)
    finally:
        _use_imports(_REAL_IMPORTS)
        lift_recursion_cap()
        _warm.restore_modules(modules)
        _last_call[0] = None
        _warm.restore_namespaces(saved)
        _modules.stop_recording()
    _reset_policy_modules()
    _on_request, _on_response, _get_policy = _entry_points()
    _warm.marker("end")


def _reset_policy_modules():
    """The policy's modules as import left them: no trace of the warm-up."""
    try:
        _modules.reset_policy_modules(_POLICY_DIR)
    except BaseException as error:  # noqa: BLE001  (it imported once: report, do not crash)
        where = _modules.location(error.__traceback__) or "policy.py"
        _fail_build(
            f"{where}: running the policy's module again after the build-time warm-up raised "
            f"{type(error).__name__}: {error} (does its import depend on state a call changed?)"
        )


_warm_up()
policy_host_snapshot.mark_immortal()
