# tries: catastrophic regex backtracking (inside the C regex engine)
# expect: error fuel_exhausted|timeout
import re


def on_request(ctx, params):
    return {"match": re.match(r"^(a+)+$", "a" * 64 + "!")}


def on_response(ctx, params):
    return None
