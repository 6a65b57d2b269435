"""Hostile on purpose: half the calls loop forever, half allocate 500 MiB."""


def on_request(ctx, params):
    if params.get("do") == "bomb":
        return bytearray(500 * 1024 * 1024)
    while True:
        pass
