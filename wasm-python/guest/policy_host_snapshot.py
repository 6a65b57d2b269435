"""What the glue leaves for the builder beside itself, and the immortal
snapshot.

componentize-py's output reaches the builder only when it exits, so the
glue talks to `policy-host build` through files in its own staged
directory: the warm-up marker (`policy_host_warm_up`) and the table of
snapshot objects that `src/build/immortal.rs` marks immortal in the image
(docs/guest.md, "Immortal snapshot").
"""

import sys

SNAPSHOT_OBJECTS_FILE = "policy_host_snapshot_objects.bin"

# The objects listed in the table, kept alive until the snapshot is taken so
# that each address written holds that object in the image.
_SNAPSHOT_OBJECTS = None


def write_beside_glue(name, data):
    """Writes bytes `data` to the file `name` in the glue's staged directory,
    where the builder reads it; if that fails the builder only misses it."""
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), name), "wb") as out:
            out.write(data)
    except OSError:
        pass


def _snapshot_objects():
    """Every live object the snapshot holds that is not immortal yet, found
    by walking from the garbage collector's objects through their referents
    (plus what the collector does not see: constants of code objects and the
    dictionaries of built-in types)."""
    import gc

    # Unreachable cycles go first: listed, they would be kept in every instance.
    gc.collect()
    is_immortal, referents, code_type = sys._is_immortal, gc.get_referents, type(_snapshot_objects.__code__)
    seen, found = set(), []
    pending = gc.get_objects()
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if not is_immortal(obj):
            found.append(obj)
        pending.extend(referents(obj))
        if type(obj) is code_type:
            pending.extend(obj.co_consts)
        elif isinstance(obj, type):
            pending.extend(referents(vars(obj)))
    return found


def mark_immortal():
    """Tells the builder where the snapshot's objects are, so it can mark
    them immortal in the image.

    A call then writes no reference count of an object it only uses: without
    this, every object a call touches dirties its page, and each fresh
    instance's reset copies those pages back. The collector's objects are
    frozen too: a collection during a call then leaves them (and their
    pages) alone. Runs last, when everything the snapshot holds exists.
    """
    import array
    import gc

    # The builder writes CPython 3.14's immortal count for 32-bit targets.
    if sys.version_info[:2] != (3, 14) or sys.maxsize != 2**31 - 1:
        return
    global _SNAPSHOT_OBJECTS
    _SNAPSHOT_OBJECTS = _snapshot_objects()
    gc.freeze()
    table = array.array("I")  # little-endian u32s: WebAssembly's byte order
    for obj in _SNAPSHOT_OBJECTS:
        table.append(id(obj))
        table.append(id(type(obj)))
    write_beside_glue(SNAPSHOT_OBJECTS_FILE, table.tobytes())
