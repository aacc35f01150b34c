"""What the other kamctlrc variables change: MD5 (ha1), USERNAME_RE, INSTALL_*_TABLES,
DBRWUSER/DBROUSER on `dbctl create --users`, WATCH_PERIOD (the monitor's refresh)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from kamtool.cli.monitor import _monitor_settings
from tests.support.cli import invoke


def _rc(tmp_path, text):
    rc = tmp_path / "kamctlrc"
    rc.write_text("SIP_DOMAIN=example.org\n" + text)
    return rc


def test_md5_program_sha256sum_makes_sha256_ha1(tmp_path, sqlite_url):
    rc = _rc(tmp_path, "MD5=sha256sum\n")
    assert invoke("--kamctlrc", rc, "--db", sqlite_url, "add", "1001", "pw").exit_code == 0
    row = invoke("--kamctlrc", rc, "--db", sqlite_url, "--json", "show", "--secrets").json()[0]
    assert row["ha1"] == hashlib.sha256(b"1001:example.org:pw").hexdigest()
    assert row["ha1b"] == hashlib.sha256(b"1001@example.org:example.org:pw").hexdigest()
    rc = _rc(tmp_path, "")  # kamctl's md5sum
    assert invoke("--kamctlrc", rc, "--db", sqlite_url, "passwd", "1001", "pw2").exit_code == 0
    row = invoke("--kamctlrc", rc, "--db", sqlite_url, "--json", "show", "--secrets").json()[0]
    assert row["ha1"] == hashlib.md5(b"1001:example.org:pw2").hexdigest()


def test_username_re(tmp_path, sqlite_url):
    rc = _rc(tmp_path, "USERNAME_RE='[0-9]+'\n")
    r = invoke("--kamctlrc", rc, "--db", sqlite_url, "add", "alice", "pw")
    assert r.exit_code == 2 and "does not match USERNAME_RE" in r.stderr
    assert invoke("--kamctlrc", rc, "--db", sqlite_url, "add", "1001", "pw").exit_code == 0
    rc = _rc(tmp_path, "USERNAME_RE='[0-9'\n")
    r = invoke("--kamctlrc", rc, "--db", sqlite_url, "add", "1002", "pw")
    assert r.exit_code == 8 and "not a valid pattern" in r.stderr


def test_install_tables_choose_the_schema_groups(tmp_path, sqlite_url):
    rc = _rc(tmp_path, "INSTALL_EXTRA_TABLES=no\nINSTALL_PRESENCE_TABLES=no\n")
    r = invoke("--kamctlrc", rc, "--db", sqlite_url, "--json", "dbctl", "create")
    assert r.exit_code == 0, r.stderr
    assert r.json()["groups"] == ["standard"]
    rc = _rc(tmp_path, "INSTALL_EXTRA_TABLES=yes\nINSTALL_PRESENCE_TABLES=no\n")
    r = invoke("--kamctlrc", rc, "--json", "dbctl", "create", "--sql", "sqlite")
    assert 'CREATE TABLE "presentity"' not in r.json()["sql"]
    assert 'CREATE TABLE "htable"' in r.json()["sql"]


@pytest.mark.mysql
def test_dbctl_create_users_are_kamctlrcs(tmp_path):
    import pymysql

    from tests.support.databases import MYSQL_ADMIN, mysql_database

    rw, ro = "ktrw_" + uuid.uuid4().hex[:8], "ktro_" + uuid.uuid4().hex[:8]
    with mysql_database() as url:
        name = url.rsplit("/", 1)[1]
        rc = _rc(
            tmp_path,
            f"DBENGINE=MYSQL\nDBHOST=127.0.0.1\nDBNAME={name}\nDBRWUSER={rw}\nDBRWPW=rwpw\n"
            f"DBROUSER={ro}\nDBROPW=ropw\n",
        )
        # the tables made as root (--db), the users named by the kamctlrc
        r = invoke("--kamctlrc", rc, "--db", url, "--json", "dbctl", "create", "--users")
        made = r.json().get("users", []) if r.exit_code == 0 else []
        try:
            assert r.exit_code == 0, r.stderr
            assert {u["user"] for u in made} == {rw, ro}
            # the read-write user of the kamctlrc now reaches the database
            assert invoke("--kamctlrc", rc, "add", "1001", "pw").exit_code == 0
        finally:
            conn = pymysql.connect(**MYSQL_ADMIN, autocommit=True)
            with conn.cursor() as cur:
                for u in made:
                    cur.execute("DROP USER IF EXISTS %s@%s", (u["user"], u["host"]))
            conn.close()


def test_watch_period_is_the_monitors_refresh_below_its_own_settings():
    assert _monitor_settings({}, [], None, 0.5)[1] == 0.5  # kamctlrc WATCH_PERIOD
    assert _monitor_settings({"interval": 3}, [], None, 0.5)[1] == 3.0  # [monitor] wins
    assert _monitor_settings({"interval": 3}, [], 1.0, 0.5)[1] == 1.0  # --interval wins
    assert _monitor_settings({}, [], None, None)[1] == 2.0
