"""The schema test: kamtool's DDL against Kamailio's own schema files, per engine.

For each engine two fresh databases are created: one by kamtool (``kamtool dbctl
create``, all three groups), one from ``/usr/share/kamailio/<dialect>/<module>-create.sql``
in kamdbctl's module order. Both are described by introspection and must be equal:
tables, columns (order, type, NULL, default), primary keys, indexes and unique keys
(names, columns, uniqueness) and the ``version`` rows.

Known, intended differences: the ``aliases`` version row is 9, not the 8 of Kamailio's
files, which Kamailio's own usrloc refuses (see schema/generate.py). (On MySQL kamtool
declares indexes inside CREATE TABLE instead of separate CREATE INDEX statements;
introspection shows the same indexes, which is what this test checks.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kamtool.db import schema
from kamtool.db.connect import connected
from tests.db.introspect import describe, kamailio_sql_files, load_kamailio_schema
from tests.support.cli import invoke
from tests.support.databases import database
from tests.support.require import unavailable


@pytest.fixture(autouse=True)
def _kamailio_schema_files() -> None:
    if not Path("/usr/share/kamailio/db_sqlite/standard-create.sql").exists():
        unavailable("Kamailio's schema files are not installed (kamailio-*-modules packages)")


ENGINE_PARAMS = [
    pytest.param("sqlite"),
    pytest.param("mysql", marks=pytest.mark.mysql),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def described(request, tmp_path_factory):
    """(kamtool's description, Kamailio's description) for one engine."""
    engine = request.param
    with (
        database(engine, tmp_path_factory.mktemp("kamtool")) as ours,
        database(engine, tmp_path_factory.mktemp("kamailio")) as theirs,
    ):
        r = invoke("--db", ours, "--json", "dbctl", "create")
        assert r.exit_code == 0, r.stdout + r.stderr
        with connected(ours, auto_create=False) as db:
            mine = describe(db)
        with connected(theirs, auto_create=False) as db:
            load_kamailio_schema(db)
            ref = describe(db)
        # kamtool's view of the database Kamailio's files made
        ref["show"] = ok(invoke("--db", theirs, "--json", "dbctl", "show"))
        ref["migrate"] = ok(invoke("--db", theirs, "--json", "dbctl", "migrate", "--dry-run"))
        yield engine, mine, ref


def ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r.json()


def test_the_module_list_is_kamdbctls():
    files = kamailio_sql_files("sqlite")
    assert files[0].name == "standard-create.sql" and len(files) == 38
    assert all(f.exists() for f in files)


def test_same_tables(described):
    _engine, mine, ref = described
    assert sorted(mine["tables"]) == sorted(ref["tables"])
    assert len(mine["tables"]) == 63


def test_same_version_rows_but_the_aliases_one_usrloc_takes(described):
    _engine, mine, ref = described
    assert dict(mine["versions"]) == {**dict(ref["versions"]), "aliases": 9}
    assert dict(ref["versions"])["aliases"] == 8
    assert dict(mine["versions"]) == schema.expected_versions()


def test_same_columns_and_table_options(described):
    _engine, mine, ref = described
    for table, desc in ref["tables"].items():
        assert mine["tables"][table]["columns"] == desc["columns"], table
        # MySQL only: storage engine and collation (InnoDB, the server's default charset)
        options = {k: v for k, v in desc.items() if k not in ("columns", "indexes")}
        assert {k: mine["tables"][table][k] for k in options} == options, table


def test_same_indexes_and_unique_keys(described):
    _engine, mine, ref = described
    for table, desc in ref["tables"].items():
        assert mine["tables"][table]["indexes"] == desc["indexes"], table


def test_kamtool_sees_kamailios_database_as_complete(described):
    _engine, _mine, ref = described
    shown = ref["show"]
    assert shown["groups"] == {"standard": True, "presence": True, "extra": True}
    assert shown["unknown_tables"] == []
    # all but the aliases version row that Kamailio's usrloc refuses; migrate sets it
    (bad,) = shown["mismatches"]
    assert (bad["table"], bad["version"], bad["expected_version"]) == ("aliases", 8, 9)
    assert "migrate" in bad["note"]
    assert {t["status"] for t in shown["tables"] if t["table"] != "aliases"} == {"ok"}
    (step,) = ref["migrate"]["upgraded"]
    assert step["table"] == "aliases" and step["steps"] == ["version aliases = 9"]
    assert ref["migrate"]["not_upgradable"] == [] and ref["migrate"]["missing_tables"] == []
