"""Compares the host's JSON codec with Python's own json, inside the sandbox.

The body holds tests/fixtures/json_codec.json. Every decode case goes
through json.loads both ways and every encode value (plus seeded random
values) through json.dumps in several styles; the mismatches come back in
the metadata, with how many calls the host answered.
"""

import json
import math
import random

import policy_host_json

STYLES = [{}, {"separators": (",", ":")}, {"ensure_ascii": False}, {"separators": (";", "=")},
          {"separators": (",", ":"), "ensure_ascii": False}]


def _outcome(function, *args, **kwargs):
    try:
        value = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001  (the exception is what is compared)
        return ("raised", type(error).__name__, str(error))
    return ("value", _shape(value))


def _shape(value):
    """The value with every type and float sign kept, so that 1 != 1.0 and
    -0.0 != 0.0 and NaN equals NaN."""
    if isinstance(value, float):
        return ("float", repr(value), math.copysign(1, value))
    if isinstance(value, dict):
        return ("dict", [(_shape(k), _shape(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_shape(item) for item in value])
    return (type(value).__name__, value)


def _random_value(rng, depth=0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.randrange(-2**70, 2**70) if rng.random() < 0.3 else rng.randrange(-1000, 1000)
    if kind == 1:
        bits = rng.getrandbits(64).to_bytes(8, "little")
        return __import__("struct").unpack("<d", bits)[0]
    if kind == 2:
        return rng.choice([True, False, None, 0.1 * rng.randrange(100), -0.0])
    if kind in (3, 4, 5):
        points = [rng.choice([rng.randrange(0x20), rng.randrange(0x20, 0x80), rng.randrange(0x80, 0x800),
                              rng.randrange(0xd800, 0xe000), rng.randrange(0x10000, 0x110000), 0x22, 0x5c, 0x7f])
                  for _ in range(rng.randrange(12))]
        return "".join(map(chr, points))
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {_random_value(rng, 3) if rng.random() < 0.2 else str(rng.randrange(50)): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(5))}


def _safe_key(key):
    return isinstance(key, (str, int, float, bool)) or key is None


def on_request(ctx, params):
    if params.get("loop"):
        # Decode the body again and again: the host's results must not pile
        # up in guest memory past the codec's per-call budget.
        for _ in range(int(params["loop"])):
            json.loads(ctx.body.content)
        return None
    if params.get("keep"):
        # Which of the decoded documents the glue keeps alive to the end of
        # the call (so that they are never freed one object at a time).
        kept = [any(document is held for held in policy_host_json._kept)
                for document in [json.loads(ctx.body.content) for _ in range(int(params["keep"]))]]
        ctx.shared.metadata["kept"] = kept
        return None
    fixtures = policy_host_json._python_loads(ctx.body.content)
    hits = {"decode": 0, "encode": 0}
    real_decode, real_encode = policy_host_json.codec.decode, policy_host_json.codec.encode

    def counting_decode(*args):
        result = real_decode(*args)
        hits["decode"] += result is not None
        return result

    def counting_encode(*args):
        result = real_encode(*args)
        hits["encode"] += result is not None
        return result

    policy_host_json.codec = type("Codec", (), {"decode": staticmethod(counting_decode),
                                                "encode": staticmethod(counting_encode)})
    mismatches = []
    for case in fixtures["decode"]:
        for text in (case["text"], case["text"].encode("utf-8")):
            ours, python = _outcome(json.loads, text), _outcome(policy_host_json._python_loads, text)
            if ours != python:
                mismatches.append(f"loads({text!r}): {ours!r} != {python!r}")
    values = [eval(literal) for literal in fixtures["encode"]]  # noqa: S307  (the test's own fixtures)
    rng = random.Random(params.get("seed", 7))
    values += [_random_value(rng) for _ in range(int(params.get("random", 300)))]
    for value in values:
        for style in STYLES:
            ours, python = _outcome(json.dumps, value, **style), _outcome(policy_host_json._python_dumps, value, **style)
            if ours != python:
                mismatches.append(f"dumps({value!r}, {style}): {ours!r} != {python!r}")
            if ours[0] == "value" and style == {}:
                back = _outcome(json.loads, ours[1][1])
                if back != _outcome(policy_host_json._python_loads, ours[1][1]):
                    mismatches.append(f"loads(dumps({value!r})) differs")
    ctx.shared.metadata["mismatches"] = mismatches[:20]
    ctx.shared.metadata["mismatch_count"] = len(mismatches)
    ctx.shared.metadata["host_decodes"] = hits["decode"]
    ctx.shared.metadata["host_encodes"] = hits["encode"]
    return None
