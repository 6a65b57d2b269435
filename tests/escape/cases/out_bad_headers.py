# tries: header splitting (CR/LF), NUL, a space in a name, non-UTF-8 text in headers
# expect: error invalid_result
from sdk.policy import UpstreamRequestModifications

ATTEMPTS = {
    "split": {"x-a": "1\r\nx-injected: yes"},
    "nul": {"x-a": "1\x00"},
    "name": {"x a": "1"},
    "surrogate": {"x-a": "\udcff"},
}


def on_request(ctx, params):
    which = list(ATTEMPTS)[int(ctx.headers.get("x-round", "0")) % len(ATTEMPTS)]
    return UpstreamRequestModifications(set_headers=ATTEMPTS[which])


def on_response(ctx, params):
    return None
