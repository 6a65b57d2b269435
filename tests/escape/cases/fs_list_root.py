# tries: list / and the current directory
# expect: error execution_error FileNotFoundError
import os


def on_request(ctx, params):
    return {"root": os.listdir("/"), "cwd": os.listdir(".")}


def on_response(ctx, params):
    return None
