"""Rejects requests whose JSON body does not satisfy a JSON Schema (Draft 7)."""

import json

from jsonschema import Draft7Validator

from sdk.policy import ImmediateResponse, RequestContext, ResponseContext

JSON_HEADERS = {"content-type": "application/json"}

# jsonschema 4.17 reads its bundled vocabulary files the first time a
# validator builds a reference resolver. They are readable at call time too,
# but reading and parsing them would then happen in every call (each runs in
# a fresh instance): build one now, at import time, and the loaded
# vocabularies are part of the pre-initialized snapshot.
Draft7Validator({}).resolver


def _reject(code: str, message: str, details: str = None) -> ImmediateResponse:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    body = json.dumps({"error": error}).encode("utf-8")
    return ImmediateResponse(status_code=400, headers=dict(JSON_HEADERS), body=body)


def _error_sort_key(error):
    return [str(part) for part in error.absolute_path]


def on_request(ctx: RequestContext, params: dict):
    schema = params.get("schema")
    if not schema:
        return None
    reject_on_missing = params.get("rejectOnMissingBody", True)

    content = ctx.body.content if ctx.body is not None and ctx.body.present else None
    if not content:
        if reject_on_missing:
            return _reject("INVALID_REQUEST_BODY", "Request body is required but was missing or empty.")
        return None
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as error:
        if reject_on_missing:
            return _reject("INVALID_REQUEST_BODY", f"Request body is not valid JSON: {error}")
        return None

    errors = sorted(Draft7Validator(schema).iter_errors(document), key=_error_sort_key)
    if not errors:
        return None
    first = errors[0]
    return _reject(
        "SCHEMA_VALIDATION_FAILED",
        f"Request body failed schema validation. {len(errors)} error(s) found.",
        f"[{first.json_path}] {first.message}",
    )


def on_response(ctx: ResponseContext, params: dict):
    return None
