"""Reads the bundle's own files at call time, every usual way, and tries
files outside the bundle (which must stay out of reach)."""

import importlib.metadata
import importlib.resources
import json
import os
import pkgutil

import rules
from sdk.policy import UpstreamRequestModifications

HERE = os.path.dirname(__file__)


def _attempt(what):
    try:
        return str(what())
    except Exception as error:  # noqa: BLE001  (the class is the result)
        return f"{type(error).__name__}"


def _write_beside():
    with open(os.path.join(HERE, "written.txt"), "w") as out:
        out.write("x")


def on_request(ctx, params):
    headers = {
        "x-resources": _attempt(lambda: json.loads(importlib.resources.files(rules).joinpath("limits.json").read_text())["max_items"]),
        "x-pkgutil": _attempt(lambda: json.loads(pkgutil.get_data("rules", "limits.json"))["max_items"]),
        "x-open": _attempt(lambda: open(os.path.join(HERE, "banner.txt")).read().strip()),
        "x-metadata": _attempt(lambda: importlib.metadata.version("jsonschema")),
        "x-write": _attempt(_write_beside),
        "x-etc-passwd": _attempt(lambda: open("/etc/passwd").read()),
        "x-parent": _attempt(lambda: os.listdir(os.path.join(HERE, ".."))),
    }
    return UpstreamRequestModifications(set_headers=headers)
