# tries: start a thread that outlives the call
# expect: error execution_error
import threading


def on_request(ctx, params):
    threading.Thread(target=lambda: None, daemon=True).start()


def on_response(ctx, params):
    return None
