"""Injects fields into JSON request bodies and masks fields of JSON response bodies."""

import json

from sdk.policy import (
    RequestContext,
    ResponseContext,
    UpstreamRequestModifications,
    UpstreamResponseModifications,
)

JSON_HEADERS = {"content-type": "application/json"}
DEFAULT_MASK_VALUE = "****"


def _json_object(body):
    """The body parsed as a JSON object, or None when it is absent, empty or not one."""
    if body is None or not body.present or not body.content:
        return None
    try:
        document = json.loads(body.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _encode(document) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def on_request(ctx: RequestContext, params: dict):
    inject = params.get("injectFields")
    if not isinstance(inject, dict) or not inject:
        return None
    document = _json_object(ctx.body)
    if document is None:
        return None
    document.update(inject)
    return UpstreamRequestModifications(body=_encode(document), set_headers=dict(JSON_HEADERS))


def on_response(ctx: ResponseContext, params: dict):
    mask_fields = params.get("maskFields")
    if not isinstance(mask_fields, list) or not mask_fields:
        return None
    document = _json_object(ctx.response_body)
    if document is None:
        return None
    mask_value = params.get("maskValue", DEFAULT_MASK_VALUE)
    masked = [key for key in mask_fields if isinstance(key, str) and key in document]
    if not masked:
        return None
    for key in masked:
        document[key] = mask_value
    return UpstreamResponseModifications(body=_encode(document), set_headers=dict(JSON_HEADERS))
