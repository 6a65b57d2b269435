# tries: os.system and os.popen
# expect: error execution_error
import os


def on_request(ctx, params):
    os.system("touch /tmp/policy-host-escape-was-here")
    return {"out": os.popen("id").read()}


def on_response(ctx, params):
    return None
