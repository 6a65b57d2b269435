# tries: a bytearray that doubles until something gives
# expect: error memory_limit|execution_error
def on_request(ctx, params):
    bomb = bytearray(b"\xff")
    while True:
        bomb += bomb


def on_response(ctx, params):
    return None
