"""Fixtures of the provisioning tests: databases with Kamailio's standard tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.kamailio import REFERENCE


def create_standard_tables(url: str) -> None:
    """Create the standard kamdbctl group with kamtool's own DDL."""
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with connected(url, auto_create=False) as db:
        create_tables(db, ["standard"])


@pytest.fixture
def url(db_url):
    """A fresh database on each engine (sqlite, mysql, postgres) with the standard tables."""
    create_standard_tables(db_url)
    return db_url


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
