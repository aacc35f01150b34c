"""The ``target`` fixture: the runtime commands run against a real Kamailio 5.6 and against
kamtool's own proxy (a separate ``kamtool serve`` process), with the same expectations
(tests/support/targets.py says where the two legitimately differ)."""

from __future__ import annotations

import pytest

from tests.support.targets import Target, running

TARGETS = [pytest.param("kamailio", marks=pytest.mark.kamailio), "kamtool"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request, tmp_path_factory) -> Target:
    """A seeded target with 127.0.0.1 trusted and a ``kv`` row waiting in its database."""
    with running(request.param, tmp_path_factory.mktemp(request.param)) as t:
        t.seed_runtime_state()
        yield t
