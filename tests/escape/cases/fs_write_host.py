# tries: create a file on the host (/tmp)
# expect: error execution_error FileNotFoundError
def on_request(ctx, params):
    with open("/tmp/policy-host-escape-was-here", "w") as handle:
        handle.write("escaped")


def on_response(ctx, params):
    return None
