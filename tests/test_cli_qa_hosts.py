"""Dotted names that are no IPv4 address are refused as hosts of new rows (QA of the CLI).

``address add 1 300.1.1.1`` was refused (exit 2) but ``domain add 300.1.1.1``,
``dispatcher add 1 sip:300.1.1.1``, ``add 1001@1.2.3`` and ``lcr gw add 300.0.0.1``
were written: Kamailio takes such a name for a DNS name (RFC 3261's toplabel starts
with a letter), so the domain never matches and the destination is dropped at reload.
Rows that hold such a name already can still be found and removed.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.cli import invoke


def kt(url: str, *args: str, stdin: str = ""):
    return invoke("--db", url, "--rpc", "http://127.0.0.1:1/RPC", *args, stdin=stdin)


@pytest.mark.parametrize(
    "args",
    [
        ("domain", "add", "300.1.1.1", "--no-reload"),
        ("domain", "add", "1.2.3", "--no-reload"),
        ("dispatcher", "add", "1", "sip:300.1.1.1:5060", "--no-reload"),
        ("add", "1001@256.0.0.1", "pw", "--no-reload"),
        ("lcr", "gw", "add", "300.0.0.1", "--no-reload"),
    ],
)
def test_a_bad_dotted_quad_is_refused(sqlite_url: str, args: tuple[str, ...]) -> None:
    r = kt(sqlite_url, *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "valid host" in r.stderr


def test_import_refuses_it_too(sqlite_url: str) -> None:
    r = kt(sqlite_url, "import", "-", stdin="1001@300.1.1.1,pw\n")
    assert r.exit_code == 2
    assert "line 1" in r.stderr and "300.1.1.1" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("domain", "add", "10.1.2.3", "--no-reload"),
        ("domain", "add", "gw-1.example.com", "--no-reload"),
        ("domain", "add", "host_1", "--no-reload"),
        ("dispatcher", "add", "1", "sip:10.0.0.1:5080", "--no-reload"),
        ("add", "1001@10.0.0.1", "pw", "--no-reload"),
        ("lcr", "gw", "add", "gw1.example.com", "--no-reload"),
    ],
)
def test_addresses_and_names_still_pass(sqlite_url: str, args: tuple[str, ...]) -> None:
    r = kt(sqlite_url, *args)
    assert r.exit_code == 0, r.stderr


def test_an_old_row_with_such_a_name_can_be_removed(sqlite_url: str) -> None:
    assert kt(sqlite_url, "show").exit_code == 0  # makes the database
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    with conn:
        conn.execute("INSERT INTO domain (domain) VALUES ('300.1.1.1')")
        conn.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
            " VALUES ('1001', '300.1.1.1', 'pw', 'x', 'y')"
        )
    conn.close()
    assert kt(sqlite_url, "rm", "1001@300.1.1.1", "--no-reload").exit_code == 0
    assert kt(sqlite_url, "domain", "rm", "300.1.1.1", "--no-reload").exit_code == 0


def test_a_bare_ipv6_domain_gets_the_bracket_hint():
    from kamtool.core.validate import domain_name
    from kamtool.errors import BadInput

    with pytest.raises(BadInput) as bare:
        domain_name("2001:db8::2", new=True)
    assert bare.value.hint == "an IPv6 address is written in brackets: [2001:db8::2]"
    assert domain_name("[2001:db8::2]", new=True) == "[2001:db8::2]"
