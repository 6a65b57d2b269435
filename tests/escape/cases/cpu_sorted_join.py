# tries: huge sorted() and str.join over millions of items
# expect: error fuel_exhausted|timeout|memory_limit
def on_request(ctx, params):
    items = sorted(range(30_000_000, 0, -1))
    return {"joined": ",".join(map(str, items))}


def on_response(ctx, params):
    return None
