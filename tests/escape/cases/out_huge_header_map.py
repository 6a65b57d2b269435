# tries: return a header map of a million entries (memory, fuel and time limits raised so it can be built)
# limits: memoryMiB=512 timeoutMs=20000 fuel=50000000000
# expect: error response_too_large|invalid_result
from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    return UpstreamRequestModifications(set_headers={f"x-h-{n}": "v" * 64 for n in range(1_000_000)})


def on_response(ctx, params):
    return None
