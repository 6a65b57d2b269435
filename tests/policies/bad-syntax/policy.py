from sdk.policy import UpstreamRequestModifications

def on_request(ctx, params)
    return None
