# tries: lift the int-to-str digit limit and convert a gigantic int
# expect: error fuel_exhausted|timeout
import sys


def on_request(ctx, params):
    sys.set_int_max_str_digits(0)
    return {"digits": len(str(7 ** 5_000_000))}


def on_response(ctx, params):
    return None
