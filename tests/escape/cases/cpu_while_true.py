# tries: loop forever in Python
# expect: error fuel_exhausted|timeout
def on_request(ctx, params):
    while True:
        pass


def on_response(ctx, params):
    return None
