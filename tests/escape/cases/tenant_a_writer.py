# tries: leave this tenant's request data (headers, body, metadata) all over memory for the next policy in the slot
# expect: ok x-survived=0
from sdk.policy import UpstreamRequestModifications

KEPT = []


def on_request(ctx, params):
    # Only real calls carry an x-secret (the build-time warm-up does not).
    survived = sum(1 for value in KEPT if isinstance(value, str) and value.startswith("escape-secret-"))
    secret = ctx.headers.get("x-secret", "") + repr(ctx.body.content if ctx.body else b"")
    ctx.shared.metadata["tenant-a"] = secret
    for _ in range(64):
        KEPT.append(bytearray(secret.encode() * 4096))
        KEPT.append(secret * 1024)
    return UpstreamRequestModifications(set_headers={"x-survived": str(survived)})


def on_response(ctx, params):
    return None
