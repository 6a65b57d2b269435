"""The policy's own modules: importing them, putting them back as import
left them after the build-time warm-up, and naming their files.

While the policy is imported and warmed up, every module loaded from source
is recorded with its code object, in the order its body finished running.
After the warm-up, `reset_policy_modules` runs the body of each module from
the policy's own directory again, in that order, in its existing module
object (cleared first): module state (counters, lists, caches) is exactly as
import left it, while the functions get back the same code objects, whose
bytecode the warm-up specialised. Other modules that imported names from
them are re-run after them, so they hold the new objects too.

Dependencies are not re-run (their module state may hold what their first
use cached); a module the warm-up imported stays imported, which is what
lets function-level imports work at run time.
"""

import linecache
import sys
import traceback
from importlib import machinery

_source_loader = machinery.SourceFileLoader
_original_exec_module = _source_loader.exec_module
# (module, code) of each module loaded from source while recording, in the
# order their bodies completed.
_loaded = []


def _recording_exec_module(loader, module):
    code = loader.get_code(module.__name__)
    if code is None:
        raise ImportError(f"cannot load {module.__name__!r}: no code", name=module.__name__)
    exec(code, module.__dict__)
    _loaded.append((module, code))


def start_recording():
    """Records every module loaded from source from now on."""
    _source_loader.exec_module = _recording_exec_module


def stop_recording():
    """Loads modules the usual way again."""
    _source_loader.exec_module = _original_exec_module


def mount_of(path):
    """The directory a staged file is mounted under in the guest (`/2` for
    `/2/policy.py`), or "" for a path that is not under one."""
    parts = str(path or "").split("/")
    if len(parts) > 2 and parts[0] == "" and parts[1].isdigit():
        return "/" + parts[1]
    return ""


def display_path(path):
    """A staged file's path as its author knows it: relative to its package
    directory (`policy.py`, `jwt/jwks_client.py`)."""
    path = str(path or "policy.py")
    mount = mount_of(path)
    if mount:
        return path[len(mount) + 1 :]
    marker = "/app/"
    return path.rsplit(marker, 1)[-1] if marker in path else path.rsplit("/", 1)[-1]


_UNSET = object()
_KEPT = ("__name__", "__doc__", "__package__", "__loader__", "__spec__", "__file__", "__cached__", "__path__", "__builtins__")


def reset_policy_modules(policy_dir):
    """Runs each recorded module under `policy_dir` again in its own module
    object (see the module doc). Returns how many were re-run."""
    if not policy_dir:
        _loaded.clear()
        return 0
    prefix = policy_dir.rstrip("/") + "/"
    rerun = 0
    for module, code in list(_loaded):
        if not str(getattr(module, "__file__", "") or "").startswith(prefix):
            continue
        namespace = module.__dict__
        kept = {name: namespace.get(name, _UNSET) for name in _KEPT}
        namespace.clear()
        namespace.update({name: value for name, value in kept.items() if value is not _UNSET})
        exec(code, namespace)
        rerun += 1
    _loaded.clear()
    return rerun


def _entries(tb):
    """(filename, line) of each traceback entry, outermost first, read from
    the frames themselves: no source lookups, so cheap even for a
    thousand-frame RecursionError."""
    entries = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<frozen"):
            entries.append((filename, tb.tb_lineno))
        tb = tb.tb_next
    return entries


def location(tb, inside=None):
    """`file:line` of the innermost traceback entry whose file is under
    `inside` (a directory), else of the innermost that is not the import
    machinery; "" when there is none."""
    entries = _entries(tb)
    if inside:
        prefix = inside.rstrip("/") + "/"
        own = [entry for entry in entries if entry[0].startswith(prefix)]
        entries = own or entries
    if not entries:
        return ""
    filename, line = entries[-1]
    return f"{display_path(filename)}:{line}"


# Traceback entries shown, innermost; a run of one repeated entry (deep
# recursion) shows its first REPEATS_SHOWN and a count of the rest.
MAX_TRACEBACK_ENTRIES = 40
REPEATS_SHOWN = 3
MAX_CHAINED = 3


def format_traceback(error):
    """The exception's traceback as Python prints it, with source lines and
    paths as the author knows them, at most MAX_TRACEBACK_ENTRIES entries
    per exception (and its causes, MAX_CHAINED deep). Written here rather
    than with `traceback.format_exception`, which formats every entry
    (reading and parsing its source for the carets) before it collapses
    repeats: a thousand-frame RecursionError cost ~10^8 fuel that way."""
    chain = []
    while error is not None and len(chain) < MAX_CHAINED and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    parts = []
    for earlier, exc in zip([None] + chain[::-1], chain[::-1]):
        if earlier is not None:
            parts.append(_CAUSE if exc.__cause__ is earlier else _CONTEXT)
        parts.append("Traceback (most recent call last):\n")
        parts.extend(_format_entries(exc.__traceback__))
        parts.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(parts)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _format_entries(tb):
    entries = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith("<frozen"):
            entries.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    lines = []
    if len(entries) > MAX_TRACEBACK_ENTRIES:
        lines.append(f"  [{len(entries) - MAX_TRACEBACK_ENTRIES} outer entries left out]\n")
        entries = entries[-MAX_TRACEBACK_ENTRIES:]
    previous, repeats = None, 0
    for entry in entries + [None]:
        if entry == previous and entry is not None:
            repeats += 1
            if repeats < REPEATS_SHOWN:
                lines.extend(_format_entry(entry))
            continue
        if repeats >= REPEATS_SHOWN:
            lines.append(f"  [Previous line repeated {repeats - REPEATS_SHOWN + 1} more times]\n")
        previous, repeats = entry, 0
        if entry is not None:
            lines.extend(_format_entry(entry))
    return lines


def _format_entry(entry):
    filename, line, name = entry
    text = [f'  File "{display_path(filename)}", line {line}, in {name}\n']
    source = linecache.getline(filename, line).strip()
    if source:
        text.append(f"    {source}\n")
    return text


def policy_dir_of(module):
    """The mounted directory holding the policy module's file."""
    path = str(getattr(module, "__file__", "") or "")
    return path.rsplit("/", 1)[0] if "/" in path else ""


def import_error_text(error):
    """An import failure in a few words: the missing module named."""
    name = getattr(error, "name", None)
    text = str(error)
    if isinstance(error, ImportError) and name and repr(name) not in text:
        return f"No module named {name!r} ({text})" if text else f"No module named {name!r}"
    return text

