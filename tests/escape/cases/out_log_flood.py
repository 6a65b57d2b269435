# tries: flood the host's log with prints, stderr writes, logging and a 1 MB line
# expect: ok x-printed=10000
import logging
import sys

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    for n in range(5_000):
        print("flood", n)
        sys.stderr.write(f"flood {n}\n")
    logging.getLogger("flood").error("x" * 1_000_000)
    return UpstreamRequestModifications(set_headers={"x-printed": "10000"})


def on_response(ctx, params):
    return None
