# tries: find another tenant's request data anywhere it can reach (every live object, every module, its metadata)
# expect: ok x-found=0
import gc
import sys

from sdk.policy import UpstreamRequestModifications

MARKER = "escape-secret-"


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        yield bytes(value).decode("latin-1")


def on_request(ctx, params):
    own = ctx.headers.get("x-secret", "")
    found = 0
    for obj in gc.get_objects() + [vars(m) for m in list(sys.modules.values())] + [ctx.shared.metadata]:
        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else [obj]
        for value in values:
            for text in _texts(value):
                if text is not MARKER and MARKER in text.replace(own, ""):
                    found += 1
    return UpstreamRequestModifications(set_headers={"x-found": str(found)})


def on_response(ctx, params):
    return None
