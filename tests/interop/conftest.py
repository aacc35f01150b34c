"""The ``target`` fixture of the interop battery: a real Kamailio 5.6 and ``kamtool serve``
with the same reference cfg and seeded rows, 127.0.0.1 trusted (address group 1) so that
requests from the test peers need no authentication (REGISTER still does)."""

from __future__ import annotations

import pytest

from tests.support.targets import Target, running

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]
TRANSPORTS = ["udp", "tcp"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> Target:
    with running(request.param, tmp_path_factory.mktemp(request.param)) as t:
        t.seed_runtime_state()
        yield t
