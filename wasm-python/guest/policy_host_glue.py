"""Guest glue: adapts the WIT `policy` world to a Python policy module.

componentize-py imports this module while it pre-initializes the component,
so everything done at module level here (importing the SDK, the policy, its
dependencies and the preloaded standard library, finding the entry points)
is already done in the snapshot every call starts from.

Per call, `Handler.on_request` / `Handler.on_response`:
1. pulls the context and params JSON through the `call-input` imports and
   builds the SDK dataclasses (bodies are fetched only when policy code reads
   them);
2. calls the policy's entry point, driving a coroutine to completion;
3. encodes the returned action as JSON plus body bytes, with the shared
   metadata after the call.

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

try:
    import ssl  # noqa: F401
except ImportError:  # the guest's CPython has no _ssl: names only, no TLS
    import policy_host_ssl

    sys.modules["ssl"] = policy_host_ssl

import dataclasses
import json

# Bound before the policy is imported: policy code may replace attributes of
# the json module (its own business), but not how the glue talks to the host.
_json_dumps = json.dumps
_json_loads = json.loads
_JSONEncoder = json.JSONEncoder
# The C scanner and encoder constructor behind json.loads / json.dumps, used
# directly: the Python layers around them (argument checks, whitespace
# regexes, a new encoder object per call) cost about as much as the parsing
# and encoding of a typical call's small documents.
_scan_json = json.decoder.JSONDecoder().scan_once
_make_json_encoder = json.encoder.c_make_encoder
_encode_json_string = json.encoder.encode_basestring_ascii

from componentize_py_types import Err

import wit_world
from wit_world.exports import handler as wit
from wit_world.imports import call_input, json_codec

from sdk import policy as sdk

# Before the policy is imported, so that `from json import loads` gets ours too.
policy_host_json.install()

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


# --- context -----------------------------------------------------------------


def _body_fetcher(kind, end_of_stream):
    def fetch():
        content = call_input.body(kind)
        if content is None:
            return None
        return sdk.Body(content=content, end_of_stream=end_of_stream, present=True)

    return fetch


def _lazy_body(name):
    """A property that fetches a body from the host the first time it is read."""
    slot = "_lazy_" + name

    def get(self):
        value = self.__dict__.get(slot)
        if callable(value):
            value = value()
            self.__dict__[slot] = value
        return value

    def set_(self, value):
        self.__dict__[slot] = value

    return property(get, set_)


class _RequestContext(sdk.RequestContext):
    """An SDK RequestContext whose body is fetched on first access."""

    body = _lazy_body("body")


class _ResponseContext(sdk.ResponseContext):
    """An SDK ResponseContext whose bodies are fetched on first access."""

    request_body = _lazy_body("request_body")
    response_body = _lazy_body("response_body")


_new_object = object.__new__


def _build(cls, fields):
    """An instance of the SDK dataclass `cls` whose attributes are `fields`
    (a dict in field order, defaults included): the object `cls(...)` builds,
    without running the generated __init__, which costs a Python frame and
    an attribute store per field."""
    instance = _new_object(cls)
    instance.__dict__.update(fields)
    return instance


def _field_defaults(cls):
    """The SDK dataclass `cls`'s fields in order, each with its default
    (None for a field whose default comes from a factory)."""
    return {
        field.name: None if field.default is dataclasses.MISSING else field.default
        for field in dataclasses.fields(cls)
    }


_SHARED_DEFAULTS = _field_defaults(sdk.SharedContext)
_METADATA_DEFAULTS = _field_defaults(sdk.PolicyMetadata)


def _shared(raw):
    fields = _SHARED_DEFAULTS.copy()
    fields.update(raw)
    # Fresh dicts where the host sent none: policies may change them.
    fields["metadata"] = fields["metadata"] or {}
    fields["auth_context"] = fields["auth_context"] or {}
    return _build(sdk.SharedContext, fields)


def _metadata(raw):
    fields = _METADATA_DEFAULTS.copy()
    fields.update(raw)
    return _build(sdk.PolicyMetadata, fields)


def _request_context(shared, raw):
    get = raw.get
    body = None
    if get("body_present"):
        body = _body_fetcher(call_input.BodyKind.REQUEST, bool(get("end_of_stream")))
    # The lazy `body` property keeps its value under "_lazy_body".
    return _build(_RequestContext, {
        "shared": shared,
        "headers": get("headers") or {},
        "_lazy_body": body,
        "path": get("path", ""),
        "method": get("method", ""),
        "authority": get("authority", ""),
        "scheme": get("scheme", ""),
    })


def _response_context(shared, raw):
    get = raw.get
    request_body = response_body = None
    if get("request_body_present"):
        request_body = _body_fetcher(call_input.BodyKind.REQUEST, True)
    if get("response_body_present"):
        response_body = _body_fetcher(call_input.BodyKind.RESPONSE, True)
    return _build(_ResponseContext, {
        "shared": shared,
        "request_headers": get("request_headers") or {},
        "_lazy_request_body": request_body,
        "request_path": get("request_path", ""),
        "request_method": get("request_method", ""),
        "response_headers": get("response_headers") or {},
        "_lazy_response_body": response_body,
        "response_status": int(get("response_status", 200)),
    })


def _parse_json(text):
    """Parses one JSON document as the host sends it (compact, no
    surrounding whitespace); anything else goes through json.loads, which
    accepts whitespace and raises the usual errors."""
    try:
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return _json_loads(text)


def _read_inputs(phase):
    """Pulls this call's inputs from the host and builds the SDK objects;
    returns the parsed context too, which _call keeps with them."""
    try:
        raw = _parse_json(call_input.context())
        params = _parse_json(call_input.params())
        shared = _shared(raw.get("shared") or {})
        policy_metadata = _metadata(raw.get("policy") or {})
        if phase == "on_request":
            ctx = _request_context(shared, raw["request"])
        else:
            ctx = _response_context(shared, raw["response"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Err(wit.Failure_InvalidInput(f"{type(error).__name__}: {error}")) from None
    if not isinstance(params, dict):
        raise Err(wit.Failure_InvalidInput("params must be a JSON object"))
    return raw, ctx, params, policy_metadata


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
    raw, ctx, params, policy_metadata = _read_inputs(phase)
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
    return _encode(phase, action, ctx.shared.metadata)


# --- encoding the result -----------------------------------------------------


def _invalid(message):
    return Err(wit.Failure_InvalidAction(message))


def _text_map(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{what} must be a dict, got {type(value).__name__}")
    return {str(key): str(item) for key, item in value.items()}


def _text_list(value, what):
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise _invalid(f"{what} must be a list of strings, got {type(value).__name__}")
    return [str(item) for item in value]


def _append_map(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"append_headers must be a dict, got {type(value).__name__}")
    result = {}
    for key, items in value.items():
        if isinstance(items, str):
            items = [items]
        result[str(key)] = _text_list(items, f"append_headers[{key!r}]")
    return result


def _body_bytes(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _invalid(f"body must be bytes or str, got {type(value).__name__}")


def _optional_text(value, what):
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{what} must be a str or None, got {type(value).__name__}")


def _optional_int(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(f"{what} must be an int, got {type(value).__name__}")
    return int(value)


def _header_changes(action, kind):
    """The action's type and its header changes, leaving out the empty ones
    (the host reads a missing change as none): less to encode and parse."""
    fields = {"type": kind}
    if action.set_headers is not None and action.set_headers != {}:
        fields["set_headers"] = _text_map(action.set_headers, "set_headers")
    if action.remove_headers is not None and action.remove_headers != []:
        fields["remove_headers"] = _text_list(action.remove_headers, "remove_headers")
    if action.append_headers is not None and action.append_headers != {}:
        fields["append_headers"] = _append_map(action.append_headers)
    if action.analytics_metadata:
        fields["analytics_metadata"] = action.analytics_metadata
    return fields


def _set_unless_none(fields, key, value):
    if value is not None:
        fields[key] = value


def _encode_action(phase, action):
    """The action as a JSON-ready dict plus its body bytes."""
    if action is None:
        return None, None
    if phase == "on_request" and isinstance(action, sdk.UpstreamRequestModifications):
        fields = _header_changes(action, "UpstreamRequestModifications")
        _set_unless_none(fields, "path", _optional_text(action.path, "path"))
        _set_unless_none(fields, "method", _optional_text(action.method, "method"))
        return fields, _body_bytes(action.body)
    if phase == "on_request" and isinstance(action, sdk.ImmediateResponse):
        status = _optional_int(action.status_code, "status_code")
        fields = {
            "type": "ImmediateResponse",
            "status_code": 500 if status is None else status,
            "headers": _text_map(action.headers, "headers"),
            "analytics_metadata": action.analytics_metadata or {},
        }
        return fields, _body_bytes(action.body)
    if phase == "on_response" and isinstance(action, sdk.UpstreamResponseModifications):
        fields = _header_changes(action, "UpstreamResponseModifications")
        _set_unless_none(fields, "status_code", _optional_int(action.status_code, "status_code"))
        return fields, _body_bytes(action.body)
    expected = (
        "UpstreamRequestModifications, ImmediateResponse or None"
        if phase == "on_request"
        else "UpstreamResponseModifications or None"
    )
    raise _invalid(f"{phase} returned {type(action).__name__}; expected {expected}")


def _json_fallback(value):
    """How values JSON does not know are sent back to the gateway."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _result_encoder():
    """Encodes a value as compact JSON (NaN refused, unknown types through
    _json_fallback), with one C encoder built here rather than one per call
    as JSONEncoder.encode does. Falls back to JSONEncoder where the C
    accelerator is missing."""
    if _make_json_encoder is None:
        return _JSONEncoder(default=_json_fallback, allow_nan=False, separators=(",", ":")).encode
    # Circular references are found through this dict, which the encoder
    # leaves unclean when encoding fails part way; it is emptied per use.
    markers = {}
    encode = _make_json_encoder(
        markers, _json_fallback, _encode_json_string, None, ":", ",", False, False, False
    )

    def encode_json(value):
        markers.clear()
        return "".join(encode(value, 0))

    return encode_json


_encode_result = _result_encoder()


def _to_json(value, what):
    try:
        return _encode_result(value)
    except (ValueError, TypeError, RecursionError) as error:
        raise _invalid(f"{what} cannot be encoded as JSON: {error}") from None


def _encode(phase, action, metadata):
    fields, body = _encode_action(phase, action)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _invalid(f"ctx.shared.metadata must be a dict, got {type(metadata).__name__}")
    return wit.Outcome(
        action=_to_json(fields, "the action"),
        body=body,
        metadata=_to_json(metadata, "ctx.shared.metadata"),
    )


# --- exports -----------------------------------------------------------------


def _describe():
    if callable(_on_request) or callable(_on_response):
        phases = [name for name, fn in (("on_request", _on_request), ("on_response", _on_response)) if callable(fn)]
        return {"phases": phases, "entry": "functions"}
    return {"phases": ["on_request", "on_response"], "entry": "factory"}


_DESCRIPTION = _json_dumps(_describe())


class _WarmUpInputs:
    """Synthetic input for the build-time warm-up: no tenant data."""

    phase = "on_request"

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


def _warm_up():
    """Runs each phase WARM_UP_PASSES times on synthetic input while the
    component is built.

    The snapshot then holds the interpreter state a first call would
    otherwise build (specialised bytecode, caches, the glue's own first-use
    work, the modules a handler imports inside functions), which makes every
    fresh instance's call cheaper. Policy code runs at build time here, so
    afterwards the policy's own modules are run again from their (now
    specialised) code objects: a call sees their state exactly as import
    left it (policy_host_modules). Failures are ignored: the policy sees
    real input at run time.

    Nothing here interrupts a handler that runs too long: a tracer
    (sys.settrace) would, but switching tracing off leaves every code object
    to be re-instrumented on its first run, in every fresh instance (about a
    third of a fresh call's interpreter work, measured). Instead the builder
    watches the marker file written around the warm-up (killing the build
    when it stays at "begin" too long) and the snapshot's memory size (memory
    a handler grew never shrinks), and then builds again with
    policy_host_build_options.WARM_UP_HANDLER = False, which warms the glue
    with a built-in handler instead of the policy's.
    """
    global _on_request, _on_response, _get_policy, _JSON_CODEC
    # Taken first: everything below (the stand-in entry points included) is
    # undone from these when the warm-up ends.
    glue_namespaces = [(vars(module), dict(vars(module))) for module in (sys.modules[__name__], policy_host_output)]
    warm = _WarmUpInputs()
    _JSON_CODEC = None
    entry_points = (_on_request, _on_response, _get_policy)
    if not _warm_up_handler():
        _on_request = _on_response = _warm_up_stand_in
        _get_policy = None
    _use_imports({"context": warm.context, "params": warm.params, "body": warm.body, "log": warm.log})
    recursion_limit, set_recursion_limit = sys.getrecursionlimit(), sys.setrecursionlimit
    # Deep recursion would exhaust the build's Wasm stack (a trap fails the
    # build), so the warm-up keeps CPython's default limit.
    set_recursion_limit(min(recursion_limit, WARM_UP_RECURSION_LIMIT))
    sys.setrecursionlimit = lambda limit: set_recursion_limit(min(limit, WARM_UP_RECURSION_LIMIT))
    modules = dict(sys.modules)
    _warm_up_marker("begin")
    try:
        handler = Handler()
        for phase in ("on_request", "on_response") * WARM_UP_PASSES:
            warm.phase = phase
            try:
                getattr(handler, phase)()
            except BaseException:  # noqa: BLE001  (warm-up must never fail the build)
                pass
    finally:
        _use_imports(_REAL_IMPORTS)
        _on_request, _on_response, _get_policy = entry_points
        sys.setrecursionlimit = set_recursion_limit
        set_recursion_limit(recursion_limit)
        _restore_modules(modules)
        _last_call[0] = None
        for namespace, saved in glue_namespaces:
            namespace.update(saved)
        _modules.stop_recording()
    # The policy's modules as import left them: no trace of the warm-up.
    try:
        _modules.reset_policy_modules(_POLICY_DIR)
    except BaseException as error:  # noqa: BLE001  (it imported once: report, do not crash)
        where = _modules.location(error.__traceback__) or "policy.py"
        _fail_build(
            f"{where}: running the policy's module again after the build-time warm-up raised "
            f"{type(error).__name__}: {error} (does its import depend on state a call changed?)"
        )
    _on_request, _on_response, _get_policy = _entry_points()
    _warm_up_marker("end")


# Each pass specialises more of the bytecode a call runs (measured: a
# fresh call's interpreter work drops ~4 % from one pass to four).
WARM_UP_PASSES = 4
WARM_UP_RECURSION_LIMIT = 1000
WARM_UP_MARKER_FILE = "policy_host_warm_up.txt"


def _restore_modules(before):
    """Puts back modules the warm-up replaced or removed in sys.modules
    (modules it imported stay: they are part of what the warm-up is for)."""
    for name, module in before.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module


def _warm_up_handler():
    try:
        from policy_host_build_options import WARM_UP_HANDLER
    except ImportError:
        return True
    return bool(WARM_UP_HANDLER)


def _warm_up_marker(what):
    """Tells the builder (which cannot see our output until componentize-py
    exits) that the warm-up began or ended, through a file beside the glue."""
    _write_beside_glue(WARM_UP_MARKER_FILE, what.encode())


def _write_beside_glue(name, data):
    """Writes bytes `data` to the file `name` in the glue's staged directory,
    where the builder reads it; if that fails the builder only misses it."""
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), name), "wb") as out:
            out.write(data)
    except OSError:
        pass


def _warm_up_stand_in(ctx, params):
    """Exercises the glue's paths like a typical policy, touching no policy code."""
    if isinstance(ctx, sdk.RequestContext):
        ctx.body.content
        return sdk.UpstreamRequestModifications(set_headers={"x-warm-up": ctx.path}, remove_headers=[])
    ctx.response_body.content
    return sdk.UpstreamResponseModifications(set_headers={"x-warm-up": "1"}, status_code=200)



class Handler(wit_world.exports.Handler):
    """The component's `handler` export."""

    def describe(self):
        """The policy's phases and entry style, found at build time."""
        return _DESCRIPTION

    def on_request(self):
        """Runs the policy's request phase."""
        policy_host_output.begin_call()
        try:
            return _call("on_request")
        finally:
            policy_host_output.end_call()

    def on_response(self):
        """Runs the policy's response phase."""
        policy_host_output.begin_call()
        try:
            return _call("on_response")
        finally:
            policy_host_output.end_call()


_warm_up()


def _snapshot_objects():
    """Every live object the snapshot holds that is not immortal yet, found
    by walking from the garbage collector's objects through their referents
    (plus what the collector does not see: constants of code objects and the
    dictionaries of built-in types)."""
    import gc

    # Unreachable cycles go first: listed, they would be kept in every instance.
    gc.collect()
    is_immortal, referents, code_type = sys._is_immortal, gc.get_referents, type(_snapshot_objects.__code__)
    seen, found = set(), []
    pending = gc.get_objects()
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if not is_immortal(obj):
            found.append(obj)
        pending.extend(referents(obj))
        if type(obj) is code_type:
            pending.extend(obj.co_consts)
        elif isinstance(obj, type):
            pending.extend(referents(vars(obj)))
    return found


def _mark_snapshot_immortal():
    """Tells the builder where the snapshot's objects are, so it can mark
    them immortal in the image (see docs/guest.md, "Immortal snapshot").

    A call then writes no reference count of an object it only uses: without
    this, every object a call touches dirties its page, and each fresh
    instance's reset copies those pages back. The objects stay alive through
    `_SNAPSHOT_OBJECTS` until the snapshot is taken, so each address written
    here holds that object in the image. The collector's objects are frozen
    too: a collection during a call then leaves them (and their pages) alone.
    """
    import array
    import gc

    # The builder writes CPython 3.14's immortal count for 32-bit targets.
    if sys.version_info[:2] != (3, 14) or sys.maxsize != 2**31 - 1:
        return
    global _SNAPSHOT_OBJECTS
    _SNAPSHOT_OBJECTS = _snapshot_objects()
    gc.freeze()
    table = array.array("I")  # little-endian u32s: WebAssembly's byte order
    for obj in _SNAPSHOT_OBJECTS:
        table.append(id(obj))
        table.append(id(type(obj)))
    _write_beside_glue(SNAPSHOT_OBJECTS_FILE, table.tobytes())


SNAPSHOT_OBJECTS_FILE = "policy_host_snapshot_objects.bin"
_mark_snapshot_immortal()
