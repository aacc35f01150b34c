"""Missing test prerequisites: a test that needs what the machine lacks fails, saying what.

``scripts/test`` installs every prerequisite (Kamailio and its modules, SIPp, sipsak,
baresip, Chromium, the database servers...), so a missing one is an installation problem
to fix, never a pass: :func:`unavailable` fails the test with what is missing and how to
install it. The one platform-bound exception is pjsua2 (``tests/proxy/test_pjsua2.py``,
wheels for x86_64 CPython 3.10-3.12 only). In CI (``CI=true``) ``tests/conftest.py`` also
fails any skip another plugin or a future marker would make.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Fail the test: ``reason`` says what is missing and how to install it."""
    pytest.fail(f"test prerequisite missing (scripts/test installs it): {reason}")


def need_module(name: str, install: str) -> ModuleType:
    """Import ``name``; when it is missing, :func:`unavailable` with how to ``install`` it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed ({install})")
        raise  # not reached: unavailable() fails the test
