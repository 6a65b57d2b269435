from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    return UpstreamRequestModifications(set_headers={"x-request-only": "yes"})
