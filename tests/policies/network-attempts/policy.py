"""Tries to reach the network; each attempt must raise, never crash."""

import http.client
import socket
import ssl
import urllib.request
from ssl import SSLContext

from sdk.policy import UpstreamRequestModifications


def _attempt(what):
    try:
        what()
    except Exception as error:  # noqa: BLE001  (the class is the result)
        return f"{type(error).__name__}:{isinstance(error, OSError)}"
    return "no-error"


def on_request(ctx, params):
    attempts = {
        "x-create-connection": lambda: socket.create_connection(("example.com", 80), timeout=1),
        "x-getaddrinfo": lambda: socket.getaddrinfo("example.com", 443),
        "x-socket-connect": lambda: socket.socket().connect(("127.0.0.1", 80)),
        "x-urlopen": lambda: urllib.request.urlopen("http://example.com/", timeout=1),
        "x-http-client": lambda: http.client.HTTPConnection("127.0.0.1", 80, timeout=1).request("GET", "/"),
        "x-gethostbyname": lambda: socket.gethostbyname("localhost"),
        "x-raw-socket": lambda: __import__("_socket").socket(),
        "x-tls-wrap": lambda: ssl.create_default_context().wrap_socket(None, server_hostname="example.com"),
        "x-tls-certs": lambda: SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata="x"),
        "x-https": lambda: http.client.HTTPSConnection("example.com", 443, timeout=1).request("GET", "/"),
    }
    headers = {name: _attempt(what) for name, what in attempts.items()}
    headers["x-after"] = "still-running"
    headers["x-ssl-names"] = ",".join(
        str(hasattr(ssl, name)) for name in ("SSLContext", "SSLError", "CERT_REQUIRED", "PROTOCOL_TLS_CLIENT", "create_default_context")
    )
    return UpstreamRequestModifications(set_headers=headers)
