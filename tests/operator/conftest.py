"""An operator's checks of the CLI: the ``target`` fixture (a real Kamailio 5.6 and
kamtool's own proxy, each seeded, as tests/runtime uses them)."""

from __future__ import annotations

import pytest

from tests.support.targets import Target, running

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> Target:
    """A seeded target with 127.0.0.1 trusted."""
    with running(request.param, tmp_path_factory.mktemp(request.param)) as t:
        t.seed_runtime_state()
        yield t
