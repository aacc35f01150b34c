"""Missing test prerequisites: skip on a developer's machine, fail in CI.

``scripts/test`` installs every tool the suite needs, so in CI (``CI=true``) a missing
Kamailio, SIPp, sipsak, baresip or database server is an installation bug, never a pass.
"""

from __future__ import annotations

import os

import pytest


def unavailable(reason: str) -> None:
    """Skip the test with ``reason``, or fail it when running in CI."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
