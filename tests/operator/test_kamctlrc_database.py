"""The database a kamctlrc names, as an operator's kamctl reads it:

* a DBENGINE kamtool cannot use (kamctl also knows DBTEXT, DB_BERKELEY, ORACLE):
  `kamtool show` used the default SQLite file instead, made it, and answered "no
  subscribers" (exit 0) about a database that is elsewhere;
* an SQLite DB_PATH where there is no file (a typo, another machine's path): kamtool made
  a new database there and answered "no subscribers" (exit 0); `dbctl create` still makes
  it on purpose.
"""

from __future__ import annotations

import pytest

from tests.support.cli import invoke


@pytest.mark.parametrize("engine", ["DBTEXT", "ORACLE"])
def test_unsupported_engine_is_a_config_error(tmp_path, monkeypatch, engine):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    rc = tmp_path / "kamctlrc"
    rc.write_text(f"DBENGINE={engine}\nDB_PATH=/etc/kamailio/dbtext\nSIP_DOMAIN=example.com\n")
    r = invoke("--kamctlrc", str(rc), "--json", "show")
    assert r.exit_code == 8, (r.stdout, r.stderr)
    err = r.json()["error"]
    assert f"DBENGINE={engine}" in err["message"] and "--db" in err["hint"]
    assert not (tmp_path / "data").exists()  # no default database was made
    db = "sqlite:///" + str(tmp_path / "k.sqlite")
    assert invoke("--kamctlrc", str(rc), "--db", db, "add", "1001", "pw").exit_code == 0
    shown = invoke("--kamctlrc", str(rc), "--db", db, "--json", "show").json()
    assert [(u["username"], u["domain"]) for u in shown] == [("1001", "example.com")]
    rows = {r["setting"]: r for r in invoke("--kamctlrc", str(rc), "--json", "config", "show")
            .json()["settings"]}  # fmt: skip
    assert "not supported" in rows["db_url"]["source"]


def test_missing_sqlite_file_of_a_kamctlrc_is_not_made(tmp_path):
    path = tmp_path / "var" / "kamailio.sqlite"
    rc = tmp_path / "kamctlrc"
    rc.write_text(f"DBENGINE=SQLITE\nDB_PATH={path}\nSIP_DOMAIN=example.com\n")
    for args in (("show",), ("add", "1001", "pw"), ("acl", "show")):
        r = invoke("--kamctlrc", str(rc), "--json", *args)
        assert r.exit_code == 5, (args, r.stdout, r.stderr)
        err = r.json()["error"]
        assert str(path) in err["message"] and "DB_PATH" in err["hint"], err
    assert not path.parent.exists()
    assert invoke("--kamctlrc", str(rc), "dbctl", "create").exit_code == 0
    assert invoke("--kamctlrc", str(rc), "add", "1001", "pw").exit_code == 0
    shown = invoke("--kamctlrc", str(rc), "--json", "show").json()
    assert [(u["username"], u["domain"]) for u in shown] == [("1001", "example.com")]


def test_an_explicit_new_sqlite_file_is_still_made(tmp_path):
    """kamtool's own promise (README): --db sqlite:///NEW gets Kamailio's tables."""
    db = "sqlite:///" + str(tmp_path / "new" / "k.sqlite")
    assert invoke("--db", db, "--domain", "example.com", "add", "1001", "pw").exit_code == 0
