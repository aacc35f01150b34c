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


@pytest.fixture(scope="module")
def modules_kamailio(tmp_path_factory):
    """A real Kamailio 5.6 with the provisioning modules (lcr, dialplan, mtree, uac, ...)
    on an SQLite database made by ``kamtool dbctl create``; kamtool's CLI pointed at both
    with ``kt(...)``."""
    from tests.support.cli import invoke
    from tests.support.kamailio import require_kamailio
    from tests.support.kamailio_modules import ModulesKamailio

    require_kamailio()
    base = tmp_path_factory.mktemp("operator-mods")
    url = "sqlite:///" + str(base / "kamtool-made.sqlite")
    made = invoke("--db", url, "dbctl", "create")
    assert made.exit_code == 0, made.stderr
    with ModulesKamailio(base, db=url) as k:
        k.kt = lambda *args, stdin="": invoke(  # type: ignore[attr-defined]
            "--db", url, "--rpc", k.rpc_http_url, "--domain", "127.0.0.1", *args, stdin=stdin
        )
        yield k
