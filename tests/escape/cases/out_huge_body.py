# tries: return a 100 MB body (memory, fuel and time limits raised so it can be built)
# limits: memoryMiB=512 timeoutMs=20000 fuel=50000000000
# expect: error invalid_result more than 64 MiB at once
from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    return UpstreamRequestModifications(body=b"\x00" * (100 * 1024 * 1024))


def on_response(ctx, params):
    return None
