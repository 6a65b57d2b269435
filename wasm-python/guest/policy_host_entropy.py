"""Randomness drawn while a policy is imported stays the policy's own.

policy-host takes every snapshot on one host from the same pre-initialization
entropy (a per-host seed, `wasm-python/tools/preinit_entropy.c`), so that
the snapshots of different policies share memory pages. A value a policy
draws while it is imported (`os.urandom`, `secrets`, `uuid.uuid4`, a new
`random.Random()`) would then equal the one another tenant's policy drew
at the same point of the stream. This module mixes a nonce the builder
writes fresh for every build into those draws, with BLAKE2b keyed by it.

At call time the same functions still run: they mix the instance's fresh
WASI randomness (the host's own generator) with the key, so what a call
draws is as unpredictable as before. The shared `random` generator is
reseeded from it on first use (policy_host_random).
"""

import hashlib
import operator
import os
import random

# Where the builder puts the nonce: the staged glue directory, mounted as /0
# while componentize-py pre-initializes (src/build/entropy.rs NONCE_FILE).
NONCE_FILE = "/0/policy_host_build_nonce.bin"

_system_urandom = os.urandom
_BLOCK = 64


def _read_key():
    try:
        with open(NONCE_FILE, "rb") as file:
            nonce = file.read()
    except OSError:
        return None
    return hashlib.blake2b(nonce, digest_size=_BLOCK).digest() if nonce else None


_KEY = _read_key()


def urandom(size):
    """`os.urandom`: the system's bytes mixed with this build's key."""
    size = operator.index(size)
    if size < 0:
        raise ValueError("negative argument not allowed")
    fresh = _system_urandom(size)
    out = bytearray()
    block = 0
    while len(out) < size:
        mac = hashlib.blake2b(key=_KEY, digest_size=_BLOCK)
        mac.update(block.to_bytes(8, "little"))
        mac.update(fresh)
        out += mac.digest()
        block += 1
    return bytes(out[:size])


_seed = random.Random.seed


def _seed_mixed(self, a=None, version=2):
    """`random.Random.seed`: without an argument, from the mixed bytes."""
    if a is None:
        a = int.from_bytes(urandom(32), "little")
    _seed(self, a, version)


def install():
    """Routes the import-time entropy sources through the key (no-op for a
    build without a nonce)."""
    if _KEY is None:
        return
    os.urandom = urandom
    random._urandom = urandom
    random.Random.seed = _seed_mixed
