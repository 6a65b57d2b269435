"""Validates the JSON request body against params["schema"] (Draft 7).

Written as the gateway's own sample is: the validator is created inside
on_request, so jsonschema reads its bundled data files at call time.
"""

import json

from jsonschema import Draft7Validator

from sdk.policy import ImmediateResponse


def on_request(ctx, params):
    document = json.loads(ctx.body.content)
    errors = list(Draft7Validator(params["schema"]).iter_errors(document))
    if not errors:
        return None
    body = json.dumps({"errors": [error.message for error in errors]}).encode()
    return ImmediateResponse(status_code=400, headers={"content-type": "application/json"}, body=body)
