# tries: walk out of the package with ../ to a secret planted beside it
# expect: ok x-found=[]
from sdk.policy import UpstreamRequestModifications

TARGETS = ["../secret.txt", "../../secret.txt", "../" * 12 + "etc/passwd", "app/../../secret.txt"]


def on_request(ctx, params):
    found = []
    for target in TARGETS:
        try:
            with open(target) as handle:
                found.append(handle.read()[:64])
        except OSError:
            pass
    return UpstreamRequestModifications(set_headers={"x-found": repr(found)})


def on_response(ctx, params):
    return None
