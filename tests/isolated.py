"""Run a test in a fresh interpreter of its own.

Once OpenVINO's runtime is loaded, later torch training in the same process can crash (openvino
2026.4 with torch 2.14: the whole suite segfaulted in a training test that ran after the OpenVINO
tests), so the tests that load OpenVINO run alone, in a child pytest, and the parent never imports it.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import subprocess
import sys

import pytest

_FLAG = "EDGEBIND_TEST_IN_CHILD"


def in_subprocess(needs: str, reason: str):
    """Decorator: skip (with `reason`) where module `needs` is missing, else run the test in a child
    pytest and fail with the child's output unless it passed there."""

    def wrap(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            if os.environ.get(_FLAG) == test.__name__:
                return test(*args, **kwargs)
            if importlib.util.find_spec(needs) is None:  # finds the package without importing it
                pytest.skip(reason)
            node = f"{inspect.getsourcefile(test)}::{test.__name__}"
            child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
                                   env={**os.environ, _FLAG: test.__name__}, capture_output=True, text=True,
                                   timeout=600)
            passed = child.returncode == 0 and "1 passed" in child.stdout  # not skipped in the child either
            assert passed, f"{node} did not pass in its own interpreter:\n{child.stdout[-4000:]}"
            return None

        return run

    return wrap


OPENVINO_MISSING = "the openvino extra is not installed (pip install 'edgebind[openvino]')"
