"""Fixtures of the KSR tests: the proxy tests' database and in-process proxy, started
with a route script."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.support.require import unavailable

DEBIAN_EXAMPLE = Path("/usr/share/doc/kamailio/examples/kemi/kamailio-basic-kemi-python.py")
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@pytest.fixture
def debian_example() -> str:
    """Kamailio's published Python KEMI example, as Debian's kamailio package ships it."""
    if not DEBIAN_EXAMPLE.is_file():
        unavailable(f"{DEBIAN_EXAMPLE} is missing (apt-get install kamailio)")
    return str(DEBIAN_EXAMPLE)
