"""Test policy: params["do"] selects what the call does; results come back as headers."""

import json
from random import getrandbits  # bound at import, like a policy might

from sdk.policy import (
    ImmediateResponse,
    UpstreamRequestModifications,
    UpstreamResponseModifications,
)

COUNTER = 0
SEEN = []
DIRTY_MARKER = "pristine"


def _outcome(name, value):
    return UpstreamRequestModifications(set_headers={name: str(value)})


def _attempt(action):
    """Runs action(); reports 'ok:<result>' or 'blocked:<ExceptionType>'."""
    try:
        return "ok:" + repr(action())[:200]
    except BaseException as error:  # noqa: BLE001
        return "blocked:" + type(error).__name__


def _open_passwd():
    with open("/etc/passwd") as handle:
        return handle.read()


def _socket():
    import socket

    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.connect(("127.0.0.1", 22))
    return connection


def _subprocess():
    import subprocess

    return subprocess.run(["ls"], capture_output=True)


def _os_system():
    import os

    return os.system("ls")


ATTEMPTS = {
    "open_passwd": _open_passwd,
    "listdir_root": lambda: __import__("os").listdir("/"),
    "environ": lambda: dict(__import__("os").environ),
    "argv": lambda: __import__("sys").argv,
    "socket": _socket,
    "subprocess": _subprocess,
    "os_system": _os_system,
}


def on_request(ctx, params):
    global COUNTER
    what = params.get("do", "echo")
    if what == "counter":
        COUNTER += 1
        SEEN.append(ctx.headers.get("x-secret", ""))
        return UpstreamRequestModifications(
            set_headers={"x-counter": str(COUNTER), "x-seen": json.dumps(SEEN)}
        )
    if what == "now":
        import time

        return _outcome("x-now", time.time_ns())
    if what == "echo":
        body = ctx.body.content if ctx.body is not None else None
        return UpstreamRequestModifications(
            set_headers={
                "x-path": ctx.path,
                "x-method": ctx.method,
                "x-headers": json.dumps(ctx.headers, sort_keys=True),
                "x-body": repr(body),
                "x-body-eos": str(ctx.body.end_of_stream if ctx.body else None),
                "x-params": json.dumps(params, sort_keys=True),
                "x-shared": json.dumps(
                    {"request_id": ctx.shared.request_id, "api_name": ctx.shared.api_name}
                ),
            }
        )
    if what == "none":
        return None
    if what == "immortal":
        # Which objects a call sees as immortal (no reference-count writes):
        # the snapshot's, and not the ones the call makes.
        import sys

        made_in_the_call = [what]
        return UpstreamRequestModifications(
            set_headers={
                "x-module": str(sys._is_immortal(sys.modules[__name__])),
                "x-handler": str(sys._is_immortal(on_request)),
                "x-module-state": str(sys._is_immortal(SEEN)),
                "x-call-object": str(sys._is_immortal(made_in_the_call)),
            }
        )
    if what == "dirty":
        # Dirty many disjoint regions of linear memory (far more than 32),
        # leave a marker in module state, and report the marker seen on entry.
        global DIRTY_MARKER
        seen = DIRTY_MARKER
        chunks = [bytearray(b"\xab" * 70_000) for _ in range(120)]
        del chunks[::2]
        DIRTY_MARKER = "dirtied-by-" + ctx.shared.request_id
        return UpstreamRequestModifications(set_headers={"x-marker-on-entry": seen, "x-kept": str(len(chunks))})
    if what == "metadata":
        ctx.shared.metadata["added"] = "by-policy"
        ctx.shared.metadata["count"] = ctx.shared.metadata.get("count", 0) + 1
        ctx.shared.metadata.pop("remove-me", None)
        return None
    if what == "immediate":
        return ImmediateResponse(status_code=403, headers={"x-why": "denied"}, body=b"\x00\xffbinary")
    if what == "rewrite":
        return UpstreamRequestModifications(body=b"", path="/new", method="PUT", remove_headers=["x-a"], append_headers={"x-b": ["1", "2"]})
    if what == "raise":
        raise KeyError("missing-thing")
    if what == "analytics":
        return UpstreamRequestModifications(analytics_metadata={"score": 1, "tier": "gold"})
    if what == "loop":
        while True:
            pass
    if what == "codec-loop":
        # Every json.loads is a host call that charges the call's fuel.
        while True:
            json.loads("[1]")
    if what == "sleep":
        import time

        time.sleep(float(params.get("seconds", 3600)))
        return None
    if what == "alloc":
        block = bytearray(int(params.get("mib", 500)) * 1024 * 1024)
        return _outcome("x-allocated", len(block))
    if what == "recurse":
        def down(n):
            return down(n + 1) + 1
        return _outcome("x-depth", down(0))
    if what == "log":
        import logging
        import sys

        print("printed line")
        print("to stderr", file=sys.stderr)
        logging.getLogger("probe").warning("logged warning")
        for index in range(int(params.get("lines", 0))):
            print("flood", index)
        return None
    if what == "bad-action":
        return {"set_headers": {}}
    if what == "bad-field":
        # One field of the action set to params["value"], e.g. set_headers="".
        return UpstreamRequestModifications(**{params["field"]: params["value"]})
    if what == "fields":
        # Every context field, and whether the objects equal the ones the
        # SDK's own constructors build from the same values.
        import dataclasses

        from sdk.policy import Body, RequestContext, SharedContext

        shared = dataclasses.asdict(ctx.shared)
        body = ctx.body
        rebuilt = RequestContext(
            shared=SharedContext(**shared),
            headers=dict(ctx.headers),
            body=Body(**dataclasses.asdict(body)) if body is not None else None,
            path=ctx.path,
            method=ctx.method,
            authority=ctx.authority,
            scheme=ctx.scheme,
        )
        names = [field.name for field in dataclasses.fields(RequestContext)]
        equal = (
            isinstance(ctx, RequestContext)
            and ctx.shared == rebuilt.shared
            and [getattr(ctx, name) for name in names] == [getattr(rebuilt, name) for name in names]
        )
        request = {name: getattr(ctx, name) for name in ("headers", "path", "method", "authority", "scheme")}
        return UpstreamRequestModifications(
            set_headers={
                "x-shared": json.dumps(shared),
                "x-shared-attributes": json.dumps(list(vars(ctx.shared))),
                "x-request": json.dumps(request),
                "x-body": repr(body),
                "x-equal": str(equal),
                "x-fresh-dicts": str(ctx.shared.metadata is not ctx.shared.auth_context),
            }
        )
    if what == "odd-metadata":
        metadata = ctx.shared.metadata
        kind = params.get("kind")
        if kind == "nan":
            metadata["x"] = float("nan")
        elif kind == "circular":
            metadata["self"] = metadata
        elif kind == "nan-in-action":
            return UpstreamRequestModifications(analytics_metadata={"score": float("inf")})
        else:
            metadata.update(raw=b"bytes", tags={"only"}, pair=(1, 2), nested={"n": [None, True, 1.5]})
        return None
    if what == "random":
        import random
        import uuid

        return UpstreamRequestModifications(
            set_headers={"x-random": str(random.random()), "x-uuid": str(uuid.uuid4())}
        )
    if what == "random-paths":
        import random

        stale_at_start = random._inst._policy_host_stale
        draws = {
            "gauss": random.gauss,
            "getrandbits": lambda: getrandbits(64),
            "choice": lambda: random.choice(range(10**9)),
            "getstate": lambda: hash(random.getstate()),
            "randbytes": lambda: random.randbytes(8).hex(),
            "random": random.random,
        }
        first = draws[params["first"]]()
        random.seed(42)
        return UpstreamRequestModifications(
            set_headers={
                "x-first": str(first),
                "x-seeded": str(random.random()),
                "x-stale-at-start": str(stale_at_start),
            }
        )
    if what in ATTEMPTS:
        return _outcome("x-result", _attempt(ATTEMPTS[what]))
    raise ValueError(f"unknown probe action {what!r}")


async def on_response(ctx, params):
    body = ctx.response_body.content if ctx.response_body is not None else b""
    request_body = ctx.request_body.content if ctx.request_body is not None else None
    return UpstreamResponseModifications(
        status_code=201,
        set_headers={
            "x-response-len": str(len(body)),
            "x-request-body": repr(request_body),
            "x-status": str(ctx.response_status),
        },
        body=body.upper(),
    )
