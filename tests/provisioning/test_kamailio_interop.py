"""Interop with a real Kamailio 5.6: it authenticates kamtool's subscribers, and kamtool
and kamctl read and edit each other's rows.

(a) kamtool creates an SQLite DB and adds 1001; Kamailio registers it (200) and refuses a
    wrong password (401), both with ``calculate_ha1`` (password column) and with the
    stored ``ha1``/``ha1b`` columns;
(b) the same on MariaDB;
(c) a DB made by Kamailio's own schema files and seeded by ``kamctl``: kamtool shows,
    edits and removes its rows, Kamailio and kamctl see kamtool's edits.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess

import pytest

from tests.provisioning.sip_register import register
from tests.support.cli import invoke
from tests.support.kamailio import Kamailio, require_kamailio

pytestmark = pytest.mark.kamailio


@pytest.fixture(autouse=True)
def _kamailio_installed() -> None:
    require_kamailio()


def kt(url: str, *args: str):
    r = invoke("--db", url, "--domain", "127.0.0.1", *args)
    return r


def ok(url: str, *args: str):
    r = kt(url, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def _provision(url: str) -> None:
    ok(url, "add", "1001", "pass")
    # The cfg relays only for local domains: Kamailio listens on a random port, so
    # sip:127.0.0.1 is not "myself"; the domain table (is_from_local) makes it local.
    ok(url, "domain", "add", "127.0.0.1")


def _sipsak(port: int, password: str) -> subprocess.CompletedProcess[str]:
    """sipsak's register-with-auth mode (-U) for 1001; exit status 0 means it got a 200."""
    return subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5999", "-s", f"sip:1001@127.0.0.1:{port}",
         "-a", password, "-x", "60"], capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _check_auth(k: Kamailio, *, ha1_columns: bool) -> None:
    port = k.sip_port
    assert register(port, "1001", "pass") == 200, k.log_text()[-2000:]
    assert register(port, "1001", "wrong") == 401
    assert register(port, "1002", "pass") == 401  # not a subscriber
    if ha1_columns:  # username=user@domain makes auth_db compare the ha1b column
        assert register(port, "1001", "pass", auth_username="1001@127.0.0.1") == 200
        assert register(port, "1001", "wrong", auth_username="1001@127.0.0.1") == 401
    contacts = k.rpc("ul.lookup", "location", "1001")["Contacts"]
    assert contacts


@pytest.mark.parametrize("ha1_columns", [False, True], ids=["calculate_ha1", "ha1_columns"])
def test_a_kamailio_authenticates_a_kamtool_subscriber_on_sqlite(tmp_path, ha1_columns):
    url = "sqlite:///" + str(tmp_path / "kamtool.sqlite")
    ok(url, "dbctl", "create")
    _provision(url)
    with Kamailio(tmp_path, db=url, seed=False, auth_ha1_columns=ha1_columns) as k:
        _check_auth(k, ha1_columns=ha1_columns)
        if not ha1_columns and shutil.which("sipsak"):
            # sipsak as a second, independent client (it sends username="1001@", which
            # only the password column can match: README section 6)
            good, bad = _sipsak(k.sip_port, "pass"), _sipsak(k.sip_port, "wrong")
            assert good.returncode == 0, good.stdout + good.stderr
            assert bad.returncode != 0


@pytest.mark.mysql
def test_b_kamailio_authenticates_a_kamtool_subscriber_on_mariadb(tmp_path):
    from tests.support.databases import mysql_database

    with mysql_database() as url:
        ok(url, "dbctl", "create")
        _provision(url)
        with Kamailio(tmp_path, db=url, seed=False, auth_ha1_columns=True) as k:
            _check_auth(k, ha1_columns=True)
            # an edit made while Kamailio runs is seen on the next request
            ok(url, "passwd", "1001", "changed")
            assert register(k.sip_port, "1001", "pass") == 401
            assert register(k.sip_port, "1001", "changed") == 200


def test_c_kamtool_and_kamctl_share_a_kamailio_made_database(kamailio):
    k, url = kamailio, kamailio.db_url

    # kamtool reads what kamctl wrote
    users = ok(url, "--json", "show").json()
    assert [(u["username"], u["domain"]) for u in users] == [
        ("1001", "127.0.0.1"),
        ("1002", "127.0.0.1"),
        ("1003", "127.0.0.1"),
    ]
    addresses = ok(url, "--json", "address", "show").json()
    assert [(a["grp"], a["ip_addr"], a["mask"], a["port"]) for a in addresses] == [
        (1, "10.0.0.10", 32, 5060),
        (2, "127.0.0.0", 8, 0),
    ]
    domains = ok(url, "--json", "domain", "show").json()
    assert [d["domain"] for d in domains] == ["127.0.0.1"]
    aliases = ok(url, "--json", "alias", "show").json()
    assert [(a["alias"], a["user"]) for a in aliases] == [("5001@127.0.0.1", "1001@127.0.0.1")]
    assert len(ok(url, "--json", "dispatcher", "show", "1").json()) == 2

    # kamtool edits users; Kamailio authenticates against the edited rows
    ok(url, "passwd", "1002", "newpass")
    assert register(k.sip_port, "1002", "newpass") == 200
    assert register(k.sip_port, "1002", "secret1002") == 401
    ok(url, "add", "1004", "pw1004")
    assert register(k.sip_port, "1004", "pw1004") == 200
    ok(url, "rm", "1003")
    assert register(k.sip_port, "1003", "secret1003") == 401
    ok(url, "rm", "1001")  # also drops kamctl's alias 5001 -> 1001

    # kamctl sees kamtool's edits
    ha1 = hashlib.md5(b"1004:127.0.0.1:pw1004").hexdigest()
    assert ha1 in k.kamctl("show", "1004").stdout
    shown = k.kamctl("show", "1003").stdout.splitlines()
    assert [line for line in shown if line and not line.startswith("sqlite_query")] == []
    conn = sqlite3.connect(k.db_file)
    assert conn.execute("SELECT count(*) FROM dbaliases").fetchone()[0] == 0
    conn.close()

    # addresses, dispatcher and domains: kamctl lists them; with --rpc, kamtool's reload
    # hook makes Kamailio load them (kamctl needs a separate "kamctl address reload").
    rpc = ("--rpc", k.rpc_http_url)
    ok(url, "address", "rm", "1", "10.0.0.10", "--no-reload")
    assert [e["item"]["ip"] for e in k.rpc("permissions.addressDump")] == ["10.0.0.10"]
    ok(url, *rpc, "address", "add", "5", "10.9.9.9", "32", "5070", "from-kamtool")
    listed = k.kamctl("address", "show").stdout
    assert "|5|10.9.9.9|32|5070|from-kamtool" in listed
    assert "10.0.0.10" not in listed
    dumped = k.rpc("permissions.addressDump")
    assert [(e["group"], e["item"]["ip"]) for e in dumped] == [(5, "10.9.9.9")]

    ok(url, *rpc, "dispatcher", "add", "3", "sip:127.0.0.1:5077", "0", "0", "", "from-kamtool")
    assert "sip:127.0.0.1:5077" in k.kamctl("dispatcher", "show").stdout
    sets = k.rpc("dispatcher.list")["RECORDS"]
    assert 3 in [s["SET"]["ID"] for s in sets]

    ok(url, *rpc, "domain", "add", "kamtool.test")
    assert "kamtool.test" in k.kamctl("domain", "showdb").stdout
    assert "kamtool.test" in [d["domain"] for d in k.rpc("domain.dump")["domains"]]

    # rm with --rpc also drops the user's registrations (ul.rm), as kamctl rm does
    assert k.rpc("ul.lookup", "location", "1004")["Contacts"]
    ok(url, *rpc, "rm", "1004")
    with pytest.raises(RuntimeError, match="AOR not found"):
        k.rpc("ul.lookup", "location", "1004")
