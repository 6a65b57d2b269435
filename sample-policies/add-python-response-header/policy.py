"""Sets one response header, named and valued by the policy's parameters."""

from sdk.policy import RequestContext, ResponseContext, UpstreamResponseModifications

DEFAULT_HEADER_NAME = "X-Python-Response-Policy"
DEFAULT_HEADER_VALUE = "hello-from-python-response"


def on_request(ctx: RequestContext, params: dict):
    return None


def on_response(ctx: ResponseContext, params: dict):
    name = params.get("headerName") or DEFAULT_HEADER_NAME
    value = params.get("headerValue") or DEFAULT_HEADER_VALUE
    return UpstreamResponseModifications(set_headers={name: value})
