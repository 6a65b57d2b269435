# tries: one 1.5 GiB allocation
# expect: error memory_limit
def on_request(ctx, params):
    block = bytearray(1536 * 1024**2)
    return {"len": len(block)}


def on_response(ctx, params):
    return None
