# tries: call the host imports directly, thousands of times, with an 8 MB log message
# expect: ok x-calls=20000
from wit_world.imports import call_input

from sdk.policy import UpstreamRequestModifications


def on_request(ctx, params):
    calls = 0
    for _ in range(5_000):
        call_input.context()
        call_input.params()
        call_input.body(call_input.BodyKind.REQUEST)
        call_input.log(call_input.LogLevel.ERROR, "x" * 1000)
        calls += 4
    call_input.log(call_input.LogLevel.ERROR, "y" * 8_000_000)
    return UpstreamRequestModifications(set_headers={"x-calls": str(calls)})


def on_response(ctx, params):
    return None
