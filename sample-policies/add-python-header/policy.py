"""Sets one request header, named and valued by the policy's parameters."""

from sdk.policy import RequestContext, ResponseContext, UpstreamRequestModifications

DEFAULT_HEADER_NAME = "X-Python-Policy"
DEFAULT_HEADER_VALUE = "hello-from-python"


def on_request(ctx: RequestContext, params: dict):
    name = params.get("headerName") or DEFAULT_HEADER_NAME
    value = params.get("headerValue") or DEFAULT_HEADER_VALUE
    return UpstreamRequestModifications(set_headers={name: value})


def on_response(ctx: ResponseContext, params: dict):
    return None
