"""Missing test prerequisites: skip on a developer's machine, fail in CI.

A skip is the exception: only a prerequisite the machine lacks (a tool, a module, a
server) may skip a test, and only through :func:`unavailable` or :func:`need_module`,
with a reason that says what is missing and how to get it. ``scripts/test`` installs
every prerequisite, so in CI (``CI=true``) a missing Kamailio, SIPp, sipsak, baresip or
database server is an installation bug, never a pass: these fail instead, and
``tests/conftest.py`` fails any other skip there too.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Skip the test with ``reason`` (what is missing, how to install it), or fail it
    when running in CI."""
    if in_ci():
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def need_module(name: str, install: str) -> ModuleType:
    """Import ``name``; when it is missing, :func:`unavailable` with how to ``install`` it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed ({install})")
        raise  # not reached: unavailable() skips or fails
