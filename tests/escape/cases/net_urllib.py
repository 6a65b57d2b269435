# tries: fetch a URL with urllib
# expect: error execution_error network access is not available inside the policy sandbox
import urllib.request


def on_request(ctx, params):
    return {"page": urllib.request.urlopen("http://169.254.169.254/latest/meta-data/", timeout=1).read()}


def on_response(ctx, params):
    return None
