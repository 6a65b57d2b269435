# tries: read its own source and the build's staging paths at run time
# expect: ok x-found=/2,/2/policy.py
import os
import sys

from sdk.policy import UpstreamRequestModifications

CANDIDATES = [__file__] + [p for p in sys.path if p] + ["/app", "/glue", "/sdk", "/deps"]


def on_request(ctx, params):
    found = []
    for path in CANDIDATES:
        try:
            os.listdir(path)
            found.append(path)
        except OSError:
            try:
                with open(path, "rb") as handle:
                    handle.read()
                found.append(path)
            except OSError:
                pass
    # Only the policy's own bundle: its package (/2); it has no requirements (/3).
    return UpstreamRequestModifications(set_headers={"x-found": ",".join(sorted(set(found)))})


def on_response(ctx, params):
    return None
