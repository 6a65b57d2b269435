# tries: the network through _socket directly, around the socket module, and unhooking the refusal
# expect: error execution_error network access is not available inside the policy sandbox
import _socket
import sys


def on_request(ctx, params):
    hook = sys.modules["policy_host_network"]._refuse_sockets
    try:
        hook.__code__ = (lambda event, args: None).__code__
    except PermissionError:
        pass
    _socket.getaddrinfo("169.254.169.254", 80)


def on_response(ctx, params):
    return None
