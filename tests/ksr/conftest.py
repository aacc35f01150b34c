"""Fixtures of the KSR tests.

- ``target``: a real Kamailio 5.6 with app_python3 and ``kamtool serve --route`` as separate
  processes, each running Kamailio's Python KEMI example script unmodified
  (tests/support/kemi.py), with the demo rows and no trusted address;
- ``start_proxy``/``debian_example``: the proxy tests' in-process proxy started with a
  route script, and the path of the example."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxy.conftest import proxy_db, start_proxy  # noqa: F401 (fixtures)
from tests.support.kemi import KemiTarget, kemi_server
from tests.support.ports import low_free_port
from tests.support.require import unavailable

DEBIAN_EXAMPLE = Path("/usr/share/doc/kamailio/examples/kemi/kamailio-basic-kemi-python.py")
SCRIPTS = Path(__file__).resolve().parent / "scripts"
TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]


@pytest.fixture
def debian_example() -> str:
    """Kamailio's published Python KEMI example, as Debian's kamailio package ships it."""
    if not DEBIAN_EXAMPLE.is_file():
        unavailable(f"{DEBIAN_EXAMPLE} is missing (apt-get install kamailio)")
    return str(DEBIAN_EXAMPLE)


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> KemiTarget:
    # a port below 10000: sipsak 0.9.8.1 cuts the last digit off 5-digit ports in its URIs
    base = tmp_path_factory.mktemp(request.param)
    with kemi_server(request.param, base, sip_port=low_free_port()) as t:
        yield t
