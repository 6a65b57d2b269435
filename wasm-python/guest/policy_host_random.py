"""Fresh `random` for every instance, paid for only by calls that use it.

The snapshot fixes the state of `random`'s shared generator at build time,
so componentize-py seeds it again in every instance: at the first export
call it calls the `random.seed` it looked up when the component was built,
which reads 2.5 KB of WASI randomness and runs the Mersenne Twister's key
schedule (~120 k instructions, 11 % of a fresh call of the header policy;
most policies never draw a random number).

Imported by the glue before the policy and before componentize-py looks up
`random.seed`, this module makes that reseed lazy. The shared generator
becomes a `_SeededOnFirstUse`: `seed()` without an argument only marks it
stale (and drops the cached `gauss` value, as a real reseed does), and the
first method that reads its state afterwards seeds it from the host's
randomness. A policy sees what it saw before, a generator freshly seeded in
its instance; `random.seed(x)` and `setstate` still take effect at once.

Module-level functions (`random.random`, `random.choice`, ...) are bound
methods of the shared generator, bound when `random` was imported; they are
bound again here so the C-level ones (`random`, `getrandbits`, ...) go
through the check too. The standard library binds only classes from
`random` at import time (`Random`, `SystemRandom`), and policies are
imported after this module, so every way to the shared generator is covered.
Other `random.Random` instances seed themselves from `os.urandom` when made
and are unaffected.
"""

import random
import _random

# The generator methods that read or replace the Mersenne Twister state,
# apart from seed and setstate (handled below). Taken from the C base class,
# so a method a newer CPython adds is covered without a change here.
_STATE_READERS = tuple(
    name
    for name, value in vars(_random.Random).items()
    if not name.startswith("_") and callable(value) and name not in ("seed", "setstate")
)


class _SeededOnFirstUse(random.Random):
    """The shared generator: a seed without an argument waits for first use."""

    _policy_host_stale = False

    def seed(self, a=None, version=2):
        if a is None:
            self._policy_host_stale = True
            self.gauss_next = None
            return
        super().seed(a, version)
        self._policy_host_stale = False

    def setstate(self, state):
        super().setstate(state)
        self._policy_host_stale = False

    def _seed_if_stale(self):
        if self._policy_host_stale:
            self._policy_host_stale = False
            super().seed(None)


def _checked(name):
    method = getattr(random.Random, name)

    def read_state(self, *args, **kwargs):
        self._seed_if_stale()
        return method(self, *args, **kwargs)

    read_state.__name__ = read_state.__qualname__ = name
    read_state.__doc__ = method.__doc__
    return read_state


# Integer draws (randrange, choice, shuffle, ...) go through the inherited
# _randbelow_with_getrandbits, i.e. through the checked getrandbits.
for _name in _STATE_READERS:
    setattr(_SeededOnFirstUse, _name, _checked(_name))
del _name


def _install():
    shared = random._inst
    shared.__class__ = _SeededOnFirstUse
    for name in random.__all__:
        bound = getattr(random, name)
        if getattr(bound, "__self__", None) is shared:
            setattr(random, name, getattr(shared, name))


_install()
