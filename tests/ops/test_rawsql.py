"""`kamtool db query | show | runfile | showcreate` on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import pytest

from kamtool.core.rawsql import split_statements
from tests.support.cli import invoke


def _count(url: str, table: str = "domain") -> int:
    res = invoke("--db", url, "--json", "db", "query", f"SELECT COUNT(*) AS n FROM {table}")
    return int(res.json()[0]["n"])


def test_query_reads_rows_as_table_and_json(std_url):
    assert invoke("--db", std_url, "domain", "add", "a.example", "--no-reload").exit_code == 0
    res = invoke("--db", std_url, "db", "query", "SELECT domain FROM domain")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["domain", "a.example"]
    res = invoke("--db", std_url, "--json", "db", "query", "SELECT domain, did FROM domain")
    assert res.json() == [{"domain": "a.example", "did": None}]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM domain",
        "INSERT INTO domain (domain) VALUES ('evil.example')",
        "UPDATE domain SET domain = 'x'",
        "DROP TABLE domain",
        "CREATE TABLE kt_new (a INTEGER)",
    ],
)
def test_read_only_unless_write(std_url, sql):
    assert invoke("--db", std_url, "domain", "add", "a.example", "--no-reload").exit_code == 0
    res = invoke("--db", std_url, "db", "query", sql)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert "--write" in res.stderr
    assert _count(std_url) == 1
    tables = invoke("--db", std_url, "--json", "db", "showcreate", "kt_new")
    assert tables.exit_code == 3


def test_postgres_cannot_switch_the_transaction_to_read_write(tmp_path):
    from tests.support.databases import database

    with database("postgres", tmp_path) as url:
        invoke("--db", url, "dbctl", "create", "-g", "standard")
        res = invoke("--db", url, "db", "query",
                     "SET TRANSACTION READ WRITE; DELETE FROM version")  # fmt: skip
        assert res.exit_code == 2
        assert _count(url, "version") > 0


def test_write_commits(std_url):
    sql = "INSERT INTO domain (domain, last_modified) VALUES ('b.example', '2020-01-01')"
    res = invoke("--db", std_url, "--json", "db", "query", "--write", sql)
    assert res.exit_code == 0, res.stdout
    assert res.json()["rowcount"] == 1
    assert _count(std_url) == 1


def test_sql_error_is_bad_input(std_url):
    res = invoke("--db", std_url, "--json", "db", "query", "SELEKT 1")
    assert res.exit_code == 2
    assert res.json()["error"]["message"].startswith("SQL error")


def test_show_table_and_limit(std_url):
    for d in ("a.example", "b.example", "c.example"):
        invoke("--db", std_url, "domain", "add", d, "--no-reload")
    rows = invoke("--db", std_url, "--json", "db", "show", "domain", "-n", "2").json()
    assert [r["domain"] for r in rows] == ["a.example", "b.example"]
    assert invoke("--db", std_url, "db", "show", "nope").exit_code == 3
    assert invoke("--db", std_url, "db", "show", "domain; DROP TABLE domain").exit_code == 2


def test_showcreate_describes_columns_and_indexes(std_url):
    res = invoke("--db", std_url, "db", "showcreate", "subscriber")
    assert res.exit_code == 0, res.stderr
    text = res.stdout
    assert "CREATE TABLE" in text
    for column in ("username", "domain", "ha1", "ha1b"):
        assert column in text
    assert "account_idx" in text  # the unique key Kamailio's DDL names
    assert "username_idx" in text


def test_runfile_all_or_nothing(std_url, tmp_path):
    good = tmp_path / "good.sql"
    good.write_text(
        "-- two domains; a ';' inside a string\n"
        "INSERT INTO domain (domain, last_modified) VALUES ('a;b.example', '2020-01-01');\n"
        "/* block comment; */\n"
        "INSERT INTO domain (domain, last_modified) VALUES ('c.example', '2020-01-01');\n"
        "SELECT domain FROM domain ORDER BY domain;\n"
    )
    res = invoke("--db", std_url, "--json", "db", "runfile", str(good))
    assert res.exit_code == 2  # read-only by default
    assert _count(std_url) == 0
    res = invoke("--db", std_url, "--json", "db", "runfile", "--write", str(good))
    assert res.exit_code == 0, res.stdout
    doc = res.json()
    assert doc[0]["rowcount"] == 1
    assert [r["domain"] for r in doc[2]["rows"]] == ["a;b.example", "c.example"]
    bad = tmp_path / "bad.sql"
    bad.write_text(
        "INSERT INTO domain (domain, last_modified) VALUES ('d.example', '2020-01-01');\n"
        "INSERT INTO nosuchtable VALUES (1);\n"
    )
    assert invoke("--db", std_url, "db", "runfile", "--write", str(bad)).exit_code == 2
    assert _count(std_url) == 2  # the first insert was rolled back


def test_split_statements():
    assert split_statements("select 'a;b'; select \"c;\" ; -- x;\n select 1 /* ; */") == [
        "select 'a;b'", 'select "c;"', "select 1"
    ]
    assert split_statements("select 'it''s;'") == ["select 'it''s;'"]


def test_sqlite_missing_file_is_not_created(tmp_path):
    url = "sqlite:///" + str(tmp_path / "absent.sqlite")
    assert invoke("--db", url, "db", "query", "SELECT 1").exit_code == 3
    assert not (tmp_path / "absent.sqlite").exists()
