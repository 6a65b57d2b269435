"""Counts calls in module state (policy.py and a helper module)."""

import helper
from sdk.policy import UpstreamRequestModifications

COUNTER = 0
SEEN = []


def on_request(ctx, params):
    global COUNTER
    COUNTER += 1
    SEEN.append(ctx.path)
    return UpstreamRequestModifications(
        set_headers={
            "x-counter": str(COUNTER),
            "x-seen": ",".join(SEEN),
            "x-helper": str(helper.bump()),
        }
    )
