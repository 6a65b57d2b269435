# tries: read the environment, arguments, host name, user and pid
# expect: ok x-environ={}
import json
import os
import platform
import socket
import sys

from sdk.policy import UpstreamRequestModifications


def _try(read):
    try:
        return str(read())
    except Exception as error:  # noqa: BLE001
        return "blocked:" + type(error).__name__


def on_request(ctx, params):
    return UpstreamRequestModifications(
        set_headers={
            "x-environ": json.dumps(dict(os.environ)),
            "x-argv": json.dumps(sys.argv),
            "x-hostname": _try(socket.gethostname),
            "x-node": _try(platform.node),
            "x-login": _try(lambda: os.getlogin()),
            "x-pid": _try(os.getpid),
            "x-cwd": _try(os.getcwd),
            "x-executable": _try(lambda: sys.executable),
        }
    )


def on_response(ctx, params):
    return None
