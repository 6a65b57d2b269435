# tries: hash flooding: a dict of keys that all collide
# expect: error fuel_exhausted|timeout


class Colliding:
    def __init__(self, n):
        self.n = n

    def __hash__(self):
        return 42

    def __eq__(self, other):
        return self.n == other.n


def on_request(ctx, params):
    table = {}
    for n in range(1_000_000):
        table[Colliding(n)] = n


def on_response(ctx, params):
    return None
