def on_request(ctx, params):
    return None
