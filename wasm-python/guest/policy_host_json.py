"""json.loads and json.dumps with the text work done by the host.

The host parses JSON text into marshal data, which marshal.loads turns into
the objects json.loads would build; json.dumps walks the value with
marshal.dumps and the host writes the text. Both give exactly what Python's
json gives: whenever the host answers None (input or options it does not
handle), Python's own function runs, so errors and unusual values behave as
always. Outside a call (the build and its warm-up) the host is not there
and Python's own functions run.
"""

import json
import marshal

_python_loads = json.loads
_python_dumps = json.dumps
_DEFAULT_SEPARATORS = (", ", ": ")

# The json-codec import while a call runs; None while the component is built.
codec = None

# Bytes sent to and received from the host one call may use. The guest's
# bindings keep the buffers of every host call until the instance is
# dropped, so without a bound a policy that decodes in a loop would fill its
# memory where Python's json would not. A 1 MiB body decoded and encoded
# once takes ~4 MiB; past the budget Python's own json runs.
CALL_BUDGET_BYTES = 16 << 20
_budget_left = 0

# What json.loads built from this much text in one call is kept alive until
# the instance is dropped. The instance serves one call and is then thrown
# away whole, so freeing a parsed document object by object when the
# policy's frame ends is work for nothing (a tenth of a 64 KiB body's call).
# Bounded so that a policy decoding in a loop peaks no higher than a few
# documents above what Python's own json would hold.
KEEP_BUDGET_BYTES = 1 << 20
_kept = []
_keep_left = 0


def begin_call(codec_import):
    """Arms the host path for one call (None: Python's own json only)."""
    global codec, _budget_left, _keep_left
    codec = codec_import
    _budget_left = CALL_BUDGET_BYTES
    _keep_left = KEEP_BUDGET_BYTES
    _kept.clear()


def _armed():
    """Whether the host may be asked at all: checked before preparing input."""
    return codec is not None and _budget_left > 0


def _host(name, data, *args):
    """The host's answer, or None when it declines or the budget is spent."""
    global _budget_left
    if _budget_left < len(data):
        return None
    result = getattr(codec, name)(data, *args)
    _budget_left -= len(data) + (0 if result is None else len(result))
    return result


def loads(s, *, cls=None, object_hook=None, parse_float=None, parse_int=None,
          parse_constant=None, object_pairs_hook=None, **kw):
    if (_armed() and cls is None and object_hook is None and parse_float is None
            and parse_int is None and parse_constant is None and object_pairs_hook is None and not kw):
        text = _utf8(s)
        packed = None if text is None else _host("decode", text)
        if packed is not None:
            return _keep(marshal.loads(packed), len(text))
    return _python_loads(s, cls=cls, object_hook=object_hook, parse_float=parse_float, parse_int=parse_int,
                         parse_constant=parse_constant, object_pairs_hook=object_pairs_hook, **kw)


def _keep(value, text_bytes):
    """Returns `value`, kept alive to the end of the call while the budget lasts."""
    global _keep_left
    if _keep_left >= text_bytes:
        _keep_left -= text_bytes
        _kept.append(value)
    return value


def _utf8(s):
    """The text as UTF-8 bytes, or None where Python decodes it another way."""
    if type(s) is bytes:
        return s
    if isinstance(s, str):
        try:
            return s.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: Python's decoder handles them
            return None
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    return None


def dumps(obj, *, skipkeys=False, ensure_ascii=True, check_circular=True, allow_nan=True, cls=None,
          indent=None, separators=None, default=None, sort_keys=False, **kw):
    if (_armed() and skipkeys is False and allow_nan is True and cls is None and indent is None
            and default is None and sort_keys is False and not kw and (ensure_ascii is True or ensure_ascii is False)):
        item, key = _DEFAULT_SEPARATORS if separators is None else _separators(separators)
        if item is not None:
            text = _encode(obj, item, key, ensure_ascii)
            if text is not None:
                return text
    return _python_dumps(obj, skipkeys=skipkeys, ensure_ascii=ensure_ascii, check_circular=check_circular,
                         allow_nan=allow_nan, cls=cls, indent=indent, separators=separators, default=default,
                         sort_keys=sort_keys, **kw)


def _separators(separators):
    if type(separators) is tuple and len(separators) == 2:
        item, key = separators
        if type(item) is str and type(key) is str:
            return item, key
    return None, None


def _encode(obj, item, key, ensure_ascii):
    try:
        # Version 4 writes ASCII text as is and a value seen again as a
        # reference, which the host writes out again, as json does (and
        # refuses for a cycle, which Python then reports).
        packed = marshal.dumps(obj, 4)
    except (ValueError, TypeError, RecursionError):
        return None
    text = _host("encode", packed, item, key, ensure_ascii)
    return None if text is None else text.decode("utf-8")


def install():
    """Routes the json module's loads and dumps through this module (also
    for json.load and json.dump, which call them)."""
    json.loads = loads
    json.dumps = dumps
