"""A policy unit test against the SDK as `pip install ./sdk` installs it.

Run with the python of a venv the SDK was installed into (tests/all/
sdk_package.rs does this); exits non-zero on failure. Plain CPython 3.9+, no
component, no sandbox: the way a policy author tests a policy.
"""

import importlib.util
import sys
import sysconfig
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ in the repository

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample-policies" / "add-python-header" / "policy.py"

from sdk.policy import (  # noqa: E402  (after dont_write_bytecode)
    Body,
    RequestContext,
    ResponseContext,
    SharedContext,
    UpstreamRequestModifications,
)
import sdk.policy  # noqa: E402


def load_sample():
    """Imports the add-python-header sample policy by its path."""
    spec = importlib.util.spec_from_file_location("add_python_header", SAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def request():
    """A request as the gateway would hand it to on_request."""
    return RequestContext(
        shared=SharedContext(request_id="req-1", api_name="orders"),
        headers={"x-a": "1"},
        body=Body(content=b"hello", end_of_stream=True, present=True),
        path="/orders",
        method="POST",
    )


class InstalledSdk(unittest.TestCase):
    def test_sdk_policy_comes_from_the_venv_site_packages(self):
        self.assertNotEqual(sys.prefix, sys.base_prefix, "not running in a venv")
        module = Path(sdk.policy.__file__).resolve()
        site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
        self.assertEqual(module.parent.parent, site_packages, module)
        self.assertNotIn(REPO, module.parents, module)

    def test_py_typed_is_installed_beside_the_module(self):
        self.assertTrue((Path(sdk.policy.__file__).parent / "py.typed").is_file())

    def test_the_sample_sets_the_header_its_params_name(self):
        action = load_sample().on_request(
            request(), {"headerName": "X-Test", "headerValue": "yes"}
        )
        self.assertIsInstance(action, UpstreamRequestModifications)
        self.assertEqual(action.set_headers, {"X-Test": "yes"})
        self.assertEqual(action.remove_headers, [])
        self.assertIsNone(action.body)

    def test_the_sample_falls_back_to_its_defaults(self):
        action = load_sample().on_request(request(), {})
        self.assertEqual(action, UpstreamRequestModifications(
            set_headers={"X-Python-Policy": "hello-from-python"}
        ))

    def test_the_sample_passes_responses_through(self):
        ctx = ResponseContext(shared=SharedContext(), response_status=204)
        self.assertIsNone(load_sample().on_response(ctx, {}))


if __name__ == "__main__":
    unittest.main(verbosity=2)
