# tries: predict randomness (same seed every call?) and read the clocks
# expect: differs x-random
# expect: differs x-urandom
import os
import random
import time

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    return UpstreamRequestModifications(
        set_headers={
            "x-random": str(random.random()),
            "x-urandom": os.urandom(16).hex(),
            "x-time": str(time.time()),
            "x-monotonic": str(time.monotonic()),
        }
    )


def on_response(ctx, params):
    return None
