"""URL parsing, connecting, binding and schema checks."""

from __future__ import annotations

import pytest

from kamtool.db import ddl, schema
from kamtool.db.connect import check_schema, connected, open_database, parse_url, read_versions
from kamtool.errors import BadInput, DatabaseUnavailable, SchemaError


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:////var/lib/kamailio/k.db", "/var/lib/kamailio/k.db"),  # Kamailio's absolute form
        ("sqlite:///etc/kamailio/k.db", "etc/kamailio/k.db"),  # relative, as db_sqlite reads it
        ("sqlite://k.db", "k.db"),
        ("/tmp/x.sqlite", "/tmp/x.sqlite"),
        ("rel/x.sqlite", "rel/x.sqlite"),
    ],
)
def test_sqlite_urls(url, path):
    u = parse_url(url)
    assert (u.engine, u.path) == ("sqlite", path)


def test_server_urls():
    u = parse_url("mysql://kamailio:s%40cret@db.example:3307/kam")
    assert (u.engine, u.user, u.password, u.host, u.port, u.database) == (
        "mysql",
        "kamailio",
        "s@cret",
        "db.example",
        3307,
        "kam",
    )
    assert "s%40cret" not in u.redacted and "***" in u.redacted
    for scheme in ("postgres", "postgresql"):
        p = parse_url(f"{scheme}://postgres@127.0.0.1/kamailio")
        assert (p.engine, p.user, p.password, p.port, p.database) == (
            "postgres",
            "postgres",
            None,
            None,
            "kamailio",
        )


@pytest.mark.parametrize(
    "url", ["", "oracle://x/y", "mysql://host", "sqlite://", "mysql://h:99999999/db"]
)
def test_bad_urls(url):
    with pytest.raises(BadInput):
        parse_url(url)


def test_unreachable_server_is_database_unavailable_and_redacted():
    from tests.support.ports import free_port

    url = f"mysql://kamailio:topsecret@127.0.0.1:{free_port()}/kamailio"
    with pytest.raises(DatabaseUnavailable) as info:
        open_database(url)
    assert "topsecret" not in info.value.message
    assert "***" in info.value.message


def test_new_sqlite_file_is_created_with_all_tables(tmp_path):
    url = "sqlite:///" + str(tmp_path / "sub" / "dir" / "k.sqlite")
    with connected(url) as db:
        assert read_versions(db) == schema.expected_versions()
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_connected_binds_models_and_checks(db_url):
    from kamtool.db.models import Subscriber

    with connected(db_url, auto_create=False) as db:
        with pytest.raises(SchemaError) as info:
            check_schema(db, ["subscriber"])
        assert info.value.hint == "kamtool dbctl create"
        ddl.create_tables(db, ["standard"])
        check_schema(db, ["subscriber", "location"])
        Subscriber.create(username="1001", domain="example.com", ha1="a", ha1b="b")
        assert Subscriber.get(Subscriber.username == "1001").password == ""
        db.execute_sql("UPDATE version SET table_version = 6 WHERE table_name = 'subscriber'")
        with pytest.raises(SchemaError) as info:
            check_schema(db, ["subscriber"])
        assert info.value.details["mismatches"]["subscriber"] == {"found": 6, "expected": 7}
    with connected(db_url, require=["location"]) as db:
        assert "presentity" not in db.get_tables()  # never auto-created on an existing DB
