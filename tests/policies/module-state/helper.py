"""A helper module with state of its own."""

CALLS = {"count": 0}


def bump():
    CALLS["count"] += 1
    return CALLS["count"]
