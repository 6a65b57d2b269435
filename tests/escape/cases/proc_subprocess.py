# tries: run a program with subprocess
# expect: error execution_error
import subprocess


def on_request(ctx, params):
    return {"out": subprocess.run(["cat", "/etc/passwd"], capture_output=True).stdout}


def on_response(ctx, params):
    return None
