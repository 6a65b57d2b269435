"""Network access refused as Python exceptions, not sandbox crashes.

The sandbox grants no network: the host's WASI context allows no TCP, UDP or
name lookup. Reaching that refusal through libc is not safe from Python,
though: wasi-libc keeps the first WASI network handle it gets in a static
that nothing resets, and a handle obtained while the component was built
(policy code at import or in the warm-up doing a lookup or a connect) is
stale in every instance made from the snapshot, so the runtime traps the
call ("unknown handle index").

So Python refuses first, in an audit hook installed before the policy is
imported: CPython raises the `socket.*` audit events in C before it calls
libc, for the `socket` module and `_socket` alike, and a hook cannot be
removed. Creating, binding or connecting a socket raises
`NetworkUnavailableError`, a `PermissionError` (so an `OSError`, what
`socket`, `urllib.request` and `http.client` callers already catch); a name
lookup raises `NameLookupUnavailableError`, which is also a
`socket.gaierror`. Neither the policy's import, nor the build-time warm-up,
nor a call ever reaches libc's network code. (This is for the policy's
sake, not a security boundary: the host's WASI context grants no network
whatever the guest does, and a stale handle traps.)
"""

import errno
import socket
import sys

_WHY = "network access is not available inside the policy sandbox"

_LOOKUPS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}
)
# socket.gethostname answers from libc without the network.
_ALLOWED = frozenset({"socket.gethostname"})


class NetworkUnavailableError(PermissionError):
    """Raised instead of creating, binding or connecting a socket."""

    def __init__(self, what):
        super().__init__(errno.EACCES, f"{what}: {_WHY}")


class NameLookupUnavailableError(socket.gaierror, NetworkUnavailableError):
    """Raised instead of a name lookup (also a `socket.gaierror`)."""

    def __init__(self, what):
        NetworkUnavailableError.__init__(self, what)


def _refuse_sockets(event, args):
    if not event.startswith("socket.") or event in _ALLOWED:
        if event == "object.__setattr__" and args[0] is _refuse_sockets:
            raise PermissionError("the sandbox's network hook cannot be changed")
        return
    what = "socket.socket()" if event == "socket.__new__" else event + "()"
    if event in _LOOKUPS:
        raise NameLookupUnavailableError(what)
    raise NetworkUnavailableError(what)


sys.addaudithook(_refuse_sockets)
socket.NetworkUnavailableError = NetworkUnavailableError
