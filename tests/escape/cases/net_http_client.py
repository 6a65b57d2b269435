# tries: an HTTP request with http.client
# expect: error execution_error network access is not available inside the policy sandbox
import http.client


def on_request(ctx, params):
    connection = http.client.HTTPConnection("127.0.0.1", 8080, timeout=1)
    connection.request("GET", "/")
    return {"status": connection.getresponse().status}


def on_response(ctx, params):
    return None
