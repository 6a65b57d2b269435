# tries: keep request data across calls in module globals, class attributes and an lru_cache
# expect: ok x-survived=0
import functools

from sdk.policy import UpstreamRequestModifications

SEEN = []


class Memory:
    requests = []


@functools.lru_cache(maxsize=None)
def cached_list(key):
    return []


def on_request(ctx, params):
    stored = SEEN + Memory.requests + cached_list("requests")
    # Only real calls carry an x-secret (the build-time warm-up does not).
    survived = sum(1 for value in stored if value.startswith("escape-secret-"))
    secret = ctx.headers.get("x-secret", "")
    SEEN.append(secret)
    Memory.requests.append(secret)
    cached_list("requests").append(secret)
    return UpstreamRequestModifications(set_headers={"x-survived": str(survived)})


def on_response(ctx, params):
    return None
