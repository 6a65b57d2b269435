# tries: exhaust the stack with unbounded recursion (recursion limit lifted)
# expect: error memory_limit|sandbox_trap|execution_error|timeout
import sys


def down(n):
    return down(n + 1) + 1


def on_request(ctx, params):
    sys.setrecursionlimit(10**8)
    return {"depth": down(0)}


def on_response(ctx, params):
    return None
