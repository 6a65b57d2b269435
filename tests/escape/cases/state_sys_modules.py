# tries: replace modules in sys.modules (json, sdk.policy) for later calls
# expect: ok x-tampered-on-entry=no
import sys
import types

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    tampered = getattr(sys.modules["json"], "HIJACKED", False) or "sdk.policy" not in sys.modules
    fake = types.ModuleType("json")
    fake.HIJACKED = True
    sys.modules["json"] = fake
    del sys.modules["sdk.policy"]
    return UpstreamRequestModifications(set_headers={"x-tampered-on-entry": "yes" if tampered else "no"})


def on_response(ctx, params):
    return None
