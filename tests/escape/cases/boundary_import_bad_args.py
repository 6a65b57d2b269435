# tries: call the host imports with malformed arguments (wrong types, an out-of-range enum)
# expect: error sandbox_trap|execution_error
from wit_world.imports import call_input


def on_request(ctx, params):
    for attempt in (lambda: call_input.log(call_input.LogLevel.INFO, b"\xff\xfe"), lambda: call_input.log(99, "x")):
        try:
            attempt()
        except Exception:  # noqa: BLE001
            pass
    call_input.body(7)


def on_response(ctx, params):
    return None
