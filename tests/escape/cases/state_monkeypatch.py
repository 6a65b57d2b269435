# tries: monkey-patch json.dumps (which the glue also uses) and the SDK's classes for later calls
# expect: ok x-survived=0
import json

import sdk.policy


def on_request(ctx, params):
    previous = getattr(json.dumps, "secret", "") + getattr(sdk.policy.UpstreamRequestModifications, "secret", "")
    # Only real calls carry an x-secret (the build-time warm-up does not).
    survived = previous.count("escape-secret-")
    secret = ctx.headers.get("x-secret", "")

    def dumps(*args, **kwargs):
        return "{not json"

    dumps.secret = secret
    json.dumps = dumps
    sdk.policy.UpstreamRequestModifications.secret = secret
    return sdk.policy.UpstreamRequestModifications(set_headers={"x-survived": str(survived)})


def on_response(ctx, params):
    return None
