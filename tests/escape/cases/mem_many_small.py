# tries: millions of small objects
# expect: error memory_limit|fuel_exhausted|execution_error
def on_request(ctx, params):
    hoard = [object() for _ in range(50_000_000)]
    return {"len": len(hoard)}


def on_response(ctx, params):
    return None
