# tries: read /proc/self (environment, memory maps, command line)
# expect: ok x-found=[]
from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    found = []
    for path in ["/proc/self/environ", "/proc/self/maps", "/proc/self/cmdline", "/proc/1/root"]:
        try:
            with open(path, "rb") as handle:
                found.append(handle.read(64))
        except OSError:
            pass
    return UpstreamRequestModifications(set_headers={"x-found": repr(found)})


def on_response(ctx, params):
    return None
