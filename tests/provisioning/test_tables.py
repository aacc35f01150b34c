"""address, trusted, dispatcher, domain, alias and acl commands: kamctl's rows and bad input."""

from __future__ import annotations

import sqlite3

import pytest

from tests.provisioning.conftest import reference_rows, rows
from tests.support.cli import invoke


def kt(url: str, *args: str):
    return invoke("--db", url, "--domain", "127.0.0.1", *args)


def ok(url: str, *args: str):
    r = kt(url, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


# ----------------------------------------------------------------------------- address


def test_address_add_writes_kamctls_rows(url):
    ok(url, "address", "add", "1", "10.0.0.10", "32", "5060", "trusted-gw")
    ok(url, "address", "add", "2", "127.0.0.0", "8", "0", "loopback")
    ok(url, "address", "add", "3", "192.168.1.0")  # kamctl defaults: mask 32, port 0, tag ''
    expected = [
        (r["grp"], r["ip_addr"], r["mask"], r["port"], r["tag"]) for r in reference_rows("address")
    ]
    assert rows(url, "address", "grp, ip_addr, mask, port, tag") == expected


@pytest.mark.parametrize(
    "args, words",
    [
        (("1", "10.0.0.300"), "not an IPv4 or IPv6 address"),
        (("1", "example.com"), "not an IPv4 or IPv6 address"),
        (("1", "10.0.0.1", "33"), "mask must be between 0 and 32"),
        (("1", "2001:db8::1", "129"), "mask must be between 0 and 128"),
        (("1", "10.0.0.1", "32", "65536"), "port must be between 0 and 65535"),
        (("--", "1", "10.0.0.1", "32", "-1"), "port must be between 0 and 65535"),
        (("1", "10.0.0.1", "x"), "mask must be a whole number"),
    ],
)
def test_address_bad_input_exits_2_and_writes_nothing(sqlite_db, args, words):
    r = kt(sqlite_db, "address", "add", *args)
    assert r.exit_code == 2
    assert words in r.stderr
    assert rows(sqlite_db, "address", "id") == []


def test_address_high_port_fits_except_in_postgres_smallint(url):
    r = kt(url, "address", "add", "1", "10.0.0.1", "32", "40000")
    if url.startswith("postgres"):
        assert r.exit_code == 2
        assert "at most 32767" in r.stderr
        assert rows(url, "address", "id") == []
    else:
        assert r.exit_code == 0, r.stderr
        assert rows(url, "address", "port") == [(40000,)]


def test_address_ipv6_defaults_to_a_host_prefix_and_duplicates_are_refused(sqlite_db):
    ok(sqlite_db, "address", "add", "4", "2001:DB8::1")
    assert rows(sqlite_db, "address", "ip_addr, mask") == [("2001:db8::1", 128)]
    r = kt(sqlite_db, "--json", "address", "add", "4", "2001:db8::1")
    assert r.exit_code == 4
    assert r.json()["error"]["code"] == "already_exists"


def test_address_rm_and_show(url):
    ok(url, "address", "add", "1", "10.0.0.10", "32", "5060", "gw")
    ok(url, "address", "add", "2", "10.0.0.11")
    data = ok(url, "--json", "address", "show").json()
    assert [(d["grp"], d["ip_addr"], d["port"], d["tag"]) for d in data] == [
        (1, "10.0.0.10", 5060, "gw"),
        (2, "10.0.0.11", 0, ""),
    ]
    assert set(data[0]) == {"id", "grp", "ip_addr", "mask", "port", "tag"}
    assert kt(url, "address", "rm", "2", "10.0.0.10").exit_code == 3
    r = ok(url, "--json", "address", "rm", "1", "10.0.0.10")
    assert r.json()["count"] == 1
    assert rows(url, "address", "ip_addr") == [("10.0.0.11",)]
    assert ok(url, "--json", "address", "show", "2").json()[0]["ip_addr"] == "10.0.0.11"


# ----------------------------------------------------------------------------- trusted


def test_trusted_add_rm_show(url):
    ok(url, "trusted", "add", "10.1.1.1", "udp", "^sip:.*@example.com$", "carrier")
    ok(url, "trusted", "add", "10.1.1.2", "any", "--ruri-pattern", "^sip:9", "--priority", "5")
    got = rows(url, "trusted", "src_ip, proto, from_pattern, ruri_pattern, tag, priority")
    assert got == [
        ("10.1.1.1", "udp", "^sip:.*@example.com$", None, "carrier", 0),
        ("10.1.1.2", "any", None, "^sip:9", None, 5),
    ]
    data = ok(url, "--json", "trusted", "show").json()
    assert [d["src_ip"] for d in data] == ["10.1.1.1", "10.1.1.2"]
    assert kt(url, "trusted", "add", "10.1.1.1", "udp", "^sip:.*@example.com$").exit_code == 4
    assert kt(url, "trusted", "add", "10.1.1.3", "quic").exit_code == 2
    assert kt(url, "trusted", "add", "not-an-ip", "udp").exit_code == 2
    ok(url, "trusted", "rm", "10.1.1.1")
    assert kt(url, "trusted", "rm", "10.1.1.1").exit_code == 3
    assert rows(url, "trusted", "src_ip") == [("10.1.1.2",)]


def test_trusted_patterns_are_checked_as_kamailio_compiles_them(url):
    """Kamailio compiles the patterns with regcomp() (POSIX basic): one it refuses is
    refused here, with the reason; GNU's \\( \\| and a bracket class are fine. (A row with
    such a pattern crashes Kamailio 5.6.3's worker at the next request from that IP.)"""
    bad = kt(url, "trusted", "add", "10.1.1.4", "any", "^sip:\\(a")
    assert bad.exit_code == 2 and "Unmatched ( or \\(" in bad.stderr
    bad = kt(url, "--json", "trusted", "add", "10.1.1.4", "any", "--ruri-pattern", "[x")
    assert bad.exit_code == 2 and bad.json()["error"]["code"] == "bad_input"
    ok(url, "trusted", "add", "10.1.1.4", "any", "^sip:\\(a\\|b\\)[[:digit:]]\\{2\\}@")
    assert rows(url, "trusted", "src_ip") == [("10.1.1.4",)]


# ----------------------------------------------------------------------------- dispatcher


def test_dispatcher_add_writes_kamctls_rows(url):
    ok(url, "dispatcher", "add", "1", "sip:127.0.0.1:5062", "0", "10", "weight=50", "sipp-uas-up")
    ok(url, "dispatcher", "add", "1", "sip:127.0.0.1:5063", "0", "5")
    ok(
        url, "dispatcher", "add", "2", "sip:127.0.0.1:5065;transport=udp", "2", "0",
        "socket=udp:127.0.0.1:5060", "second-set",
    )  # fmt: skip
    cols = "setid, destination, flags, priority, attrs, description"
    expected = [
        (r["setid"], r["destination"], r["flags"], r["priority"], r["attrs"], r["description"])
        for r in reference_rows("dispatcher")
    ]
    assert rows(url, "dispatcher", cols) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5062",
        "127.0.0.1:5062",
        "sip:",
        "sip:host:99999",
        "sip:bad host",
        "tel:+123",
    ],
)
def test_dispatcher_refuses_non_sip_uris(sqlite_db, uri):
    r = kt(sqlite_db, "--json", "dispatcher", "add", "1", uri)
    assert r.exit_code == 2
    assert r.json()["error"]["code"] == "bad_input"
    assert rows(sqlite_db, "dispatcher", "id") == []


def test_dispatcher_accepts_sips_and_ipv6(sqlite_db):
    ok(sqlite_db, "dispatcher", "add", "3", "sips:gw.example.com:5061;transport=tls")
    ok(sqlite_db, "dispatcher", "add", "3", "sip:[2001:db8::5]:5060")
    assert kt(sqlite_db, "dispatcher", "add", "3", "sip:[2001:db8::5]:5060").exit_code == 4
    assert kt(sqlite_db, "dispatcher", "add", "3", "sip:gw", "64").exit_code == 2  # unknown flag


def test_dispatcher_rm_rmset_show(url):
    ok(url, "dispatcher", "add", "1", "sip:127.0.0.1:5062")
    ok(url, "dispatcher", "add", "1", "sip:127.0.0.1:5063")
    ok(url, "dispatcher", "add", "2", "sip:127.0.0.1:5064")
    shown = ok(url, "--json", "dispatcher", "show").json()
    assert [(d["setid"], d["destination"]) for d in shown] == [
        (1, "sip:127.0.0.1:5062"),
        (1, "sip:127.0.0.1:5063"),
        (2, "sip:127.0.0.1:5064"),
    ]
    ok(url, "dispatcher", "rm", str(shown[0]["id"]))
    assert kt(url, "dispatcher", "rm", str(shown[0]["id"])).exit_code == 3
    assert ok(url, "--json", "dispatcher", "rmset", "1").json()["count"] == 1
    assert kt(url, "dispatcher", "rmset", "1").exit_code == 3
    assert rows(url, "dispatcher", "destination") == [("sip:127.0.0.1:5064",)]


# ----------------------------------------------------------------------------- domain


def test_domain_add_rm_show(url):
    ok(url, "domain", "add", "127.0.0.1")
    ok(url, "domain", "add", "kamailio.test", "--did", "kt")
    assert rows(url, "domain", "domain, did") == [("127.0.0.1", None), ("kamailio.test", "kt")]
    data = ok(url, "--json", "domain", "show").json()
    assert [d["domain"] for d in data] == ["127.0.0.1", "kamailio.test"]
    assert data[0]["last_modified"][:4].isdigit()  # an ISO date, not `date` text
    assert kt(url, "domain", "add", "127.0.0.1").exit_code == 4
    # Kamailio's domain module compares domains without case, whatever the database does
    assert kt(url, "domain", "add", "Kamailio.TEST").exit_code == 4
    assert kt(url, "domain", "add", "bad domain").exit_code == 2
    ok(url, "domain", "rm", "KAMAILIO.test")
    assert kt(url, "domain", "rm", "kamailio.test").exit_code == 3
    assert rows(url, "domain", "domain") == [("127.0.0.1",)]


def test_domain_last_modified_is_a_julian_day_on_sqlite(sqlite_db):
    ok(sqlite_db, "domain", "add", "127.0.0.1")
    conn = sqlite3.connect(sqlite_db.removeprefix("sqlite:///"))
    kind, value = conn.execute("SELECT typeof(last_modified), last_modified FROM domain").fetchone()
    now = conn.execute("SELECT julianday('now')").fetchone()[0]
    conn.close()
    assert kind == "real"
    assert abs(value - now) < 1 / 24  # within the hour


# ----------------------------------------------------------------------------- alias


def test_alias_add_writes_kamctls_row(url):
    # an alias of nobody (issue 13: `alias add 6666 nosuchuser` was accepted) is refused
    missing = kt(url, "alias", "add", "5001@127.0.0.1", "1001@127.0.0.1")
    assert missing.exit_code == 3 and "no subscriber '1001@127.0.0.1'" in missing.stderr
    assert rows(url, "dbaliases", "id") == []
    ok(url, "add", "1001@127.0.0.1", "secret1001")
    ok(url, "alias", "add", "5001@127.0.0.1", "1001@127.0.0.1")
    [ref] = reference_rows("dbaliases")
    cols = "alias_username, alias_domain, username, domain"
    assert rows(url, "dbaliases", cols) == [
        (ref["alias_username"], ref["alias_domain"], ref["username"], ref["domain"])
    ]
    data = ok(url, "--json", "alias", "show").json()
    assert data[0]["alias"] == "5001@127.0.0.1" and data[0]["user"] == "1001@127.0.0.1"
    assert ok(url, "--json", "alias", "show", "1001").json()[0]["alias_username"] == "5001"
    assert ok(url, "--json", "alias", "show", "1002").json() == []
    # the alias itself, as kamctl's `alias_db show ALIAS`: what it points to
    assert [r["user"] for r in ok(url, "--json", "alias", "show", "5001").json()] == [
        "1001@127.0.0.1"
    ]
    assert kt(url, "alias", "add", "5001", "1002").exit_code == 4
    ok(url, "alias", "rm", "sip:5001@127.0.0.1")
    assert kt(url, "alias", "rm", "5001").exit_code == 3
    assert rows(url, "dbaliases", "id") == []
    ok(url, "alias", "add", "6666@127.0.0.1", "gateway@127.0.0.1", "--force")
    assert rows(url, "dbaliases", "username") == [("gateway",)]


# ----------------------------------------------------------------------------- acl


def test_acl_grant_revoke_show(url):
    ok(url, "acl", "grant", "1001", "local", "ld")
    r = kt(url, "--json", "acl", "grant", "1001", "ld", "voicemail")
    assert r.exit_code == 4  # already in ld: nothing written
    assert rows(url, "grp", "username, domain, grp") == [
        ("1001", "127.0.0.1", "local"),
        ("1001", "127.0.0.1", "ld"),
    ]
    data = ok(url, "--json", "acl", "show", "1001").json()
    assert sorted(d["grp"] for d in data) == ["ld", "local"]
    ok(url, "acl", "revoke", "1001", "ld")
    assert kt(url, "acl", "revoke", "1001", "ld").exit_code == 3
    ok(url, "acl", "grant", "1002", "local")
    ok(url, "acl", "revoke", "1001")
    assert rows(url, "grp", "username, grp") == [("1002", "local")]


def test_table_output_in_a_pipe_is_tab_separated(sqlite_db):
    ok(sqlite_db, "address", "add", "1", "10.0.0.10", "32", "5060", "gw")
    r = ok(sqlite_db, "address", "show")
    header, line = r.stdout.splitlines()
    assert header.split("\t") == ["ID", "GRP", "IP ADDR", "MASK", "PORT", "TAG"]
    assert line.split("\t")[1:] == ["1", "10.0.0.10", "32", "5060", "gw"]
