# tries: open a TCP connection to the host
# expect: error sandbox_trap a host call was refused
import socket


def on_request(ctx, params):
    connection = socket.create_connection(("127.0.0.1", 22), timeout=1)
    connection.sendall(b"hello")


def on_response(ctx, params):
    return None
