"""Fixtures of the operations tests (raw SQL, accounting reports, apply/drift, diagnose)."""

from __future__ import annotations

import pytest

from tests.support.databases import ENGINES, database


@pytest.fixture(autouse=True)
def _no_stray_reloads(monkeypatch):
    """Reloads go to a closed port unless a test passes --rpc."""
    from tests.support.ports import free_port

    monkeypatch.setenv("KAMTOOL_RPC_URL", f"http://127.0.0.1:{free_port()}/RPC")


@pytest.fixture(params=ENGINES)
def std_url(request, tmp_path):
    """A fresh database on each engine with the standard tables (kamtool's DDL)."""
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, request.param))
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with database(request.param, tmp_path) as url:
        with connected(url, auto_create=False) as db:
            create_tables(db, ["standard"])
        yield url
