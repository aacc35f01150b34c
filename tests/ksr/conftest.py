"""The ``target`` fixture of the KSR tests: a real Kamailio 5.6 with app_python3 and
``kamtool serve --route``, each running Kamailio's Python KEMI example script unmodified
(tests/support/kemi.py), with the demo rows and no trusted address."""

from __future__ import annotations

import pytest

from tests.support.kemi import KemiTarget, kemi_server
from tests.support.ports import low_free_port

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> KemiTarget:
    # a port below 10000: sipsak 0.9.8.1 cuts the last digit off 5-digit ports in its URIs
    base = tmp_path_factory.mktemp(request.param)
    with kemi_server(request.param, base, sip_port=low_free_port()) as t:
        yield t
