# tries: os.fork and os.execv
# expect: error execution_error AttributeError
import os


def on_request(ctx, params):
    if os.fork() == 0:
        os.execv("/bin/sh", ["sh", "-c", "id"])


def on_response(ctx, params):
    return None
