# tries: read host files while the build imports it (they would be baked into the snapshot)
# expect: ok x-found=[]
import os

from sdk.policy import UpstreamRequestModifications

FOUND = []
for _path in ["../secret.txt", "/etc/hostname", "/etc/passwd", os.path.expanduser("~/.ssh/id_rsa")]:
    try:
        with open(_path) as _handle:
            FOUND.append(_handle.read(64))
    except OSError:
        pass
try:
    FOUND.extend(n for n in os.listdir("..") if n not in ("app", "glue", "sdk", "deps", "wit"))
except OSError:
    pass


def on_request(ctx, params):
    return UpstreamRequestModifications(set_headers={"x-found": repr(FOUND)})


def on_response(ctx, params):
    return None
