"""The ``target`` fixture of the interop battery: a real Kamailio 5.6 and ``kamtool serve``
with the same reference cfg and seeded rows, 127.0.0.1 trusted (address group 1) so that
requests from the test peers need no authentication (REGISTER still does)."""

from __future__ import annotations

import pytest

from tests.support.ports import low_free_port
from tests.support.targets import Target, running

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]
TRANSPORTS = ["udp", "tcp"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> Target:
    # a port below 10000: sipsak 0.9.8.1 cuts the last digit off 5-digit ports in its URIs
    base = tmp_path_factory.mktemp(request.param)
    with running(request.param, base, sip_port=low_free_port()) as t:
        t.seed_runtime_state()
        yield t
