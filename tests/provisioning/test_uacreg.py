"""`kamtool uacreg` on the database of each engine: kamcli's rows, checks, secrets kept out
of every output (a real Kamailio's view of the same rows: test_modules_kamailio.py)."""

from __future__ import annotations

import pytest

from tests.provisioning.conftest import rows
from tests.support.cli import invoke

LINE = ("trunk1", "1001", "example.org", "4930123", "127.0.0.1:5090", "", "4930123",
        "s3cret-pw", "sip:127.0.0.1:5090", "3600")  # fmt: skip


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, *args, stdin=stdin)


def ok(url: str, *args: str, stdin: str = ""):
    r = kt(url, *args, stdin=stdin)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    assert "s3cret" not in r.stdout + r.stderr or "--secrets" in args
    return r


def test_add_show_passwd_rm(url):
    r = ok(url, "--json", "uacreg", "add", *LINE, "--flags", "0", "--reg-delay", "2").json()
    assert r["rows"][0]["l_uuid"] == "trunk1" and "auth_password" not in r["rows"][0]
    assert rows(
        url, "uacreg", "l_uuid, r_domain, auth_password, auth_proxy, expires, reg_delay"
    ) == [("trunk1", "127.0.0.1:5090", "s3cret-pw", "sip:127.0.0.1:5090", 3600, 2)]
    shown = ok(url, "--json", "uacreg", "show").json()
    assert shown[0]["auth_username"] == "4930123" and "auth_password" not in shown[0]
    plain = ok(url, "uacreg", "show")
    assert "trunk1" in plain.stdout
    secret = ok(url, "--json", "uacreg", "show", "--secrets").json()
    assert secret[0]["auth_password"] == "s3cret-pw"
    assert kt(url, "--json", "uacreg", "add", *LINE).exit_code == 4
    ok(url, "uacreg", "passwd", "trunk1", "-", stdin="n3w-secret\n")
    assert rows(url, "uacreg", "auth_password, auth_ha1") == [("n3w-secret", "")]
    ha1 = "0123456789abcdef0123456789ABCDEF"
    ok(url, "uacreg", "passwd", "trunk1", ha1, "--ha1")
    assert rows(url, "uacreg", "auth_password, auth_ha1") == [("", ha1)]
    assert kt(url, "uacreg", "passwd", "nope", "x").exit_code == 3
    ok(url, "uacreg", "rm", "trunk1")
    assert rows(url, "uacreg", "id") == []
    assert kt(url, "uacreg", "rm", "trunk1").exit_code == 3


@pytest.mark.parametrize(
    "index, value, words",
    [
        (0, "", "l_uuid must not be empty"),
        (4, "bad host!", "r_domain 'bad host!' is not host or host:port"),
        (7, "", "give a password"),
        (8, "127.0.0.1", "auth_proxy '127.0.0.1' is not a SIP URI"),
        (9, "0", "expires must be between 1"),
        (9, "x", "expires must be a whole number"),
    ],
)
def test_bad_registrations_exit_2(sqlite_db, index, value, words):
    args = list(LINE)
    args[index] = value
    r = kt(sqlite_db, "uacreg", "add", *args)
    assert r.exit_code == 2, r.stderr
    assert words in r.stderr
    assert rows(sqlite_db, "uacreg", "id") == []


def test_bad_ha1_and_socket(sqlite_db):
    args = list(LINE)
    args[7] = "xyz"
    assert kt(sqlite_db, "uacreg", "add", *args, "--ha1").exit_code == 2
    r = kt(sqlite_db, "uacreg", "add", *LINE, "--socket", "10.0.0.1:5060")
    assert r.exit_code == 2 and "proto:address:port" in r.stderr
