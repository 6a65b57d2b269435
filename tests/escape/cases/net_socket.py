# tries: open a TCP connection to the host
# expect: error execution_error network access is not available inside the policy sandbox
import socket


def on_request(ctx, params):
    connection = socket.create_connection(("127.0.0.1", 22), timeout=1)
    connection.sendall(b"hello")


def on_response(ctx, params):
    return None
