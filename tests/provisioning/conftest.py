"""Fixtures of the provisioning tests: databases with Kamailio's standard tables."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.databases import ENGINES, database
from tests.support.kamailio import REFERENCE


@pytest.fixture(autouse=True)
def _no_stray_reloads(monkeypatch):
    """Point the reload hook at a closed port: edits must not reach some Kamailio that
    happens to listen on the default 127.0.0.1:5071 (tests that want a reload pass --rpc)."""
    from tests.support.ports import free_port

    monkeypatch.setenv("KAMTOOL_RPC_URL", f"http://127.0.0.1:{free_port()}/RPC")


def create_standard_tables(url: str) -> None:
    """Create the standard and extra kamdbctl groups with kamtool's own DDL (the extra
    group has uac's, mtree's and carrierroute's tables)."""
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with connected(url, auto_create=False) as db:
        create_tables(db, ["standard", "extra"])


# The tables the provisioning commands write; emptied between tests.
PROVISIONING_TABLES = (
    "subscriber",
    "dbaliases",
    "grp",
    "address",
    "trusted",
    "dispatcher",
    "domain",
    "dialplan",
    "mtrees",
    "uacreg",
    "speed_dial",
    "usr_preferences",
    "lcr_gw",
    "lcr_rule",
    "lcr_rule_target",
    "carrierroute",
    "carrierfailureroute",
    "carrier_name",
    "domain_name",
)


@pytest.fixture(scope="session")
def _engine_databases(tmp_path_factory):
    """One throwaway database per engine for the whole session, standard and extra tables
    created once: creating the tables per test costs about half a second on MariaDB/PostgreSQL."""
    stack = ExitStack()
    cache: dict[str, str] = {}

    def get(engine: str) -> str:
        if engine not in cache:
            url = stack.enter_context(database(engine, tmp_path_factory.mktemp(engine)))
            create_standard_tables(url)
            cache[engine] = url
        return cache[engine]

    yield get
    stack.close()


@pytest.fixture(params=ENGINES)
def url(request, _engine_databases):
    """A database on each engine (sqlite, mysql, postgres) with the standard tables and
    empty provisioning tables."""
    if request.param != "sqlite":
        request.applymarker(getattr(pytest.mark, request.param))
    url = _engine_databases(request.param)
    from kamtool.db.connect import connected

    with connected(url, auto_create=False) as db, db.atomic():
        for table in PROVISIONING_TABLES:
            db.execute_sql(f"DELETE FROM {table}")
    return url


@pytest.fixture
def sqlite_db(sqlite_url):
    """A fresh SQLite database with the standard tables (for engine-independent checks)."""
    create_standard_tables(sqlite_url)
    return sqlite_url


def rows(url: str, table: str, columns: str, where: str = "", params: tuple = ()) -> list[tuple]:
    """Rows read back with plain SQL (not through kamtool's models), ordered by id."""
    from kamtool.db.connect import connected

    with connected(url, auto_create=False) as db:
        sql = f"SELECT {columns} FROM {table} {where} ORDER BY id"
        if params:
            sql = sql.replace("?", db.param)
        return [tuple(r) for r in db.execute_sql(sql, params).fetchall()]


def reference_rows(table: str) -> list[dict]:
    """The rows kamctl wrote in the reference capture (db/sqlite-rows.json), as values."""
    doc = json.loads((Path(REFERENCE) / "db" / "sqlite-rows.json").read_text())
    return [{k: v[1] for k, v in row.items()} for row in doc[table]["rows"]]


def reference_types(table: str) -> list[dict]:
    """The SQLite storage types of those rows (``typeof()`` of each value)."""
    doc = json.loads((Path(REFERENCE) / "db" / "sqlite-rows.json").read_text())
    return [{k: v[0] for k, v in row.items()} for row in doc[table]["rows"]]
