"""The default domain of user names: configured, else the only row of the domain table."""

from __future__ import annotations

from tests.support.cli import invoke


def test_without_configuration_the_single_served_domain_is_used(sqlite_url):
    r = invoke("--db", sqlite_url, "add", "1001", "pass", "--no-reload")
    assert r.exit_code == 2 and "domain unknown" in r.stderr

    assert invoke("--db", sqlite_url, "domain", "add", "example.org", "--no-reload").exit_code == 0
    r = invoke("--db", sqlite_url, "add", "1001", "pass", "--no-reload")
    assert r.exit_code == 0, r.stderr
    rows = invoke("--db", sqlite_url, "--json", "show").json()
    assert [(u["username"], u["domain"]) for u in rows] == [("1001", "example.org")]


def test_two_domains_are_ambiguous_and_a_configured_domain_wins(sqlite_url):
    for d in ("a.example", "b.example"):
        assert invoke("--db", sqlite_url, "domain", "add", d, "--no-reload").exit_code == 0
    assert invoke("--db", sqlite_url, "add", "1001", "pass", "--no-reload").exit_code == 2
    r = invoke("--db", sqlite_url, "--domain", "c.example", "add", "1001", "pw", "--no-reload")
    assert r.exit_code == 0, r.stderr
    assert invoke("--db", sqlite_url, "--json", "show").json()[0]["domain"] == "c.example"
