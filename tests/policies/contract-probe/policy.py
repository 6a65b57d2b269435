"""Test policy for the guest contract's fixtures (tests/fixtures/contract.json).

params["do"] == "view": answers with what the policy sees of its context,
as JSON in the body (bytes as text, or {"base64": ...} when not UTF-8).
params["do"] == "action": returns the SDK object params["action"] names
(None for pass-through).
"""

import base64
import dataclasses
import json

from sdk import policy as sdk


def _text(content):
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(content).decode("ascii")}


def _bytes(value):
    if isinstance(value, dict):
        return base64.b64decode(value["base64"])
    return value.encode("utf-8")


def _body(body):
    if body is None:
        return None
    return {"content": _text(body.content), "end_of_stream": body.end_of_stream, "present": body.present}


def _sdk_class(value):
    """The SDK dataclass `value` is an instance of (the glue may subclass it)."""
    return next(cls for cls in type(value).__mro__ if cls.__module__ == sdk.__name__)


def _view(ctx):
    cls = _sdk_class(ctx)
    view = {"class": cls.__name__}
    for field in dataclasses.fields(cls):
        value = getattr(ctx, field.name)
        if isinstance(value, sdk.SharedContext):
            value = dataclasses.asdict(value)
        elif field.name.endswith("body"):
            value = _body(value)
        view[field.name] = value
    return json.dumps(view).encode("utf-8")


def _action(described):
    if described is None:
        return None
    fields = dict(described)
    cls = getattr(sdk, fields.pop("class"))
    if "body" in fields:
        fields["body"] = _bytes(fields["body"])
    return cls(**fields)


def on_request(ctx, params):
    if params["do"] == "view":
        return sdk.ImmediateResponse(status_code=200, body=_view(ctx))
    return _action(params["action"])


def on_response(ctx, params):
    if params["do"] == "view":
        return sdk.UpstreamResponseModifications(body=_view(ctx))
    return _action(params["action"])
