# tries: hold thousands of files open at once, to grow the host's table of WASI resources without bound (limits raised so that only the table's cap can stop it)
# limits: memoryMiB=512 timeoutMs=30000 fuel=200000000000
# expect: error sandbox_trap resource table has no free keys
from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    kept = []
    for _ in range(6000):
        kept.append(open(__file__, "rb", buffering=0))
    return UpstreamRequestModifications(set_headers={"x-open": str(len(kept))})


def on_response(ctx, params):
    return None
