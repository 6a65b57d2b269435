# tries: run code after the result was returned (finalizers, pending coroutines) that calls the host
# expect: ok x-returned=yes
import asyncio
import weakref

from wit_world.imports import call_input

from sdk.policy import UpstreamRequestModifications


class Lingering:
    def __del__(self):
        call_input.log(call_input.LogLevel.ERROR, "called from a finalizer after return: " + call_input.context())


async def later():
    await asyncio.sleep(0)
    call_input.log(call_input.LogLevel.ERROR, "a coroutine that was never awaited")


def on_request(ctx, params):
    ctx.shared.metadata["lingering"] = str(Lingering())
    weakref.finalize(ctx, call_input.log, call_input.LogLevel.ERROR, "weakref finalizer")
    ctx._keep = Lingering()
    later()
    return UpstreamRequestModifications(set_headers={"x-returned": "yes"})


def on_response(ctx, params):
    return None
