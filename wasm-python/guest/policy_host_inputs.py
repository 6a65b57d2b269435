"""What a call reads: the host's context and params JSON as SDK objects.

`read(phase)` pulls both documents through the `call-input` imports and
builds the SDK dataclasses the policy receives. Bodies are not fetched
here: each context's body attributes fetch their body from the host the
first time policy code reads them, so a policy that never looks at a body
never copies it into the guest. The field names are the guest contract's
(docs/guest.md, `src/contract/guest_json.rs` on the host side).
"""

import dataclasses
import json

from componentize_py_types import Err
from wit_world.exports import handler as wit
from wit_world.imports import call_input

from sdk import policy as sdk

# Bound before the policy is imported (the glue imports this module first):
# policy code may replace attributes of the json module, but not how the
# glue reads the host's input. The C scanner is used directly: the Python
# layers around it cost about as much as parsing a call's small documents.
_json_loads = json.loads
_scan_json = json.decoder.JSONDecoder().scan_once
_new_object = object.__new__


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


class RequestContext(sdk.RequestContext):
    """An SDK RequestContext whose body is fetched on first access."""

    body = _lazy_body("body")


class ResponseContext(sdk.ResponseContext):
    """An SDK ResponseContext whose bodies are fetched on first access."""

    request_body = _lazy_body("request_body")
    response_body = _lazy_body("response_body")


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
    return _build(RequestContext, {
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
    return _build(ResponseContext, {
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


def read(phase):
    """Pulls this call's inputs from the host and builds the SDK objects:
    (the parsed context, the phase's context object, params, policy
    metadata). Malformed input raises the `invalid-input` failure."""
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
