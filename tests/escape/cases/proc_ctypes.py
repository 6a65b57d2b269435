# tries: load libc through ctypes and call system()
# expect: error execution_error ModuleNotFoundError
import importlib


def on_request(ctx, params):
    ctypes = importlib.import_module("ctypes")
    return ctypes.CDLL("libc.so.6").system(b"id")


def on_response(ctx, params):
    return None
