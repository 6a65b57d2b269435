"""Imports a native module that the sandbox does not have."""

import _policy_host_missing_native  # noqa: F401
