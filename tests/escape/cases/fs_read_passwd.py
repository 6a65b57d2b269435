# tries: read /etc/passwd
# expect: error execution_error FileNotFoundError
def on_request(ctx, params):
    with open("/etc/passwd") as handle:
        return {"passwd": handle.read()}


def on_response(ctx, params):
    return None
