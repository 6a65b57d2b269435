"""Routes a policy's print(), sys.stderr and `logging` output to the host log.

Outside a call (while the component is being built) output goes to the real
streams, so import-time prints show up in the build. During a call every
complete line becomes one `call-input.log` import call. The guest stops
forwarding after a per-call budget; the host enforces its own caps as well.
"""

import io
import logging
import sys

from wit_world.imports import call_input

MAX_LINE_CHARS = 4096
MAX_LINES_PER_CALL = 200

_Level = call_input.LogLevel
_state = {"active": False, "lines": 0, "dropped": 0}


def _emit(level, message):
    if not _state["active"]:
        stream = sys.__stderr__ if level in (_Level.WARNING, _Level.ERROR) else sys.__stdout__
        stream.write(message + "\n")
        return
    if _state["lines"] >= MAX_LINES_PER_CALL:
        _state["dropped"] += 1
        return
    _state["lines"] += 1
    if len(message) > MAX_LINE_CHARS:
        message = message[:MAX_LINE_CHARS] + "… [truncated]"
    call_input.log(level, message)


class _LineWriter(io.TextIOBase):
    """A text stream that forwards each complete line at one level."""

    def __init__(self, level, name):
        super().__init__()
        self._level = level
        self._name = name
        self._pending = []

    @property
    def name(self):
        return self._name

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        *complete, rest = text.split("\n")
        if complete:
            complete[0] = "".join(self._pending) + complete[0]
            self._pending = []
            for line in complete:
                _emit(self._level, line)
        if rest:
            self._pending.append(rest)
        return len(text)

    def flush(self):
        if self._pending:
            line = "".join(self._pending)
            self._pending = []
            _emit(self._level, line)


class _HostLogHandler(logging.Handler):
    """A `logging` handler that forwards records at their own level."""

    def emit(self, record):
        try:
            message = self.format(record)
        except Exception:  # noqa: BLE001  (a bad format string must not fail the call)
            message = str(record.msg)
        if record.levelno >= logging.ERROR:
            level = _Level.ERROR
        elif record.levelno >= logging.WARNING:
            level = _Level.WARNING
        elif record.levelno >= logging.INFO:
            level = _Level.INFO
        else:
            level = _Level.DEBUG
        _emit(level, message)


sys.stdout = _LineWriter(_Level.INFO, "<stdout>")
sys.stderr = _LineWriter(_Level.WARNING, "<stderr>")
_root = logging.getLogger()
_root.handlers[:] = [_HostLogHandler()]
_root.handlers[0].setFormatter(logging.Formatter("%(name)s: %(message)s"))
_root.setLevel(logging.INFO)


# Not a contextlib context manager: the WIT error type (componentize_py_types.Err)
# is a frozen dataclass, and contextlib's __exit__ fails assigning its __traceback__.


def begin_call():
    """Starts forwarding output to the host for one call."""
    _state.update(active=True, lines=0, dropped=0)


def end_call():
    """Flushes partial lines, reports dropped ones and stops forwarding."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _state["dropped"]:
        dropped = _state["dropped"]
        _state["dropped"] = 0
        call_input.log(_Level.WARNING, f"{dropped} more log lines dropped (limit {MAX_LINES_PER_CALL} per call)")
    _state["active"] = False
