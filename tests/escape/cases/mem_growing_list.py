# tries: a list that grows without end
# expect: error memory_limit|execution_error
def on_request(ctx, params):
    hoard = []
    while True:
        hoard.append("x" * 4096 + str(len(hoard)))


def on_response(ctx, params):
    return None
