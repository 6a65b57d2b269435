import pydantic  # noqa: F401


def on_request(ctx, params):
    return None
