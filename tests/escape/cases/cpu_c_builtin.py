# tries: spin inside one C-level builtin (no Python bytecode runs)
# expect: error fuel_exhausted|timeout
def on_request(ctx, params):
    return {"sum": sum(range(10**15))}


def on_response(ctx, params):
    return None
