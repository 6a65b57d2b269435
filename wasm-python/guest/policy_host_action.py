"""What a call returns: the policy's action encoded for the host.

`encode(phase, action, metadata)` checks the action against the phase's
SDK types and turns it into the WIT `outcome`: the action as compact JSON,
its body as bytes, and the shared metadata as JSON. Anything the host
could not read raises the `invalid-action` failure with a message for the
policy's author. The host checks the JSON again (`src/contract/guest_json.rs`):
this module is the author's error messages, not the boundary's guard.
"""

import json

from componentize_py_types import Err
from wit_world.exports import handler as wit

from sdk import policy as sdk

# Bound before the policy is imported (the glue imports this module first),
# so policy code that replaces parts of the json module cannot change how
# results are encoded.
_JSONEncoder = json.JSONEncoder
_make_json_encoder = json.encoder.c_make_encoder
_encode_json_string = json.encoder.encode_basestring_ascii


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


def _immediate_response(action):
    status = _optional_int(action.status_code, "status_code")
    return {
        "type": "ImmediateResponse",
        "status_code": 500 if status is None else status,
        "headers": _text_map(action.headers, "headers"),
        "analytics_metadata": action.analytics_metadata or {},
    }


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
        return _immediate_response(action), _body_bytes(action.body)
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


def to_json(value, what):
    """`value` as compact JSON; what cannot be encoded is an invalid action
    naming `what`."""
    try:
        return _encode_result(value)
    except (ValueError, TypeError, RecursionError) as error:
        raise _invalid(f"{what} cannot be encoded as JSON: {error}") from None


def encode(phase, action, metadata):
    """The WIT outcome of a call that returned `action` in `phase`, with the
    shared metadata as the policy left it."""
    fields, body = _encode_action(phase, action)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _invalid(f"ctx.shared.metadata must be a dict, got {type(metadata).__name__}")
    return wit.Outcome(
        action=to_json(fields, "the action"),
        body=body,
        metadata=to_json(metadata, "ctx.shared.metadata"),
    )
