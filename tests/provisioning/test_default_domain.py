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
    first = invoke("--db", sqlite_url, "domain", "add", "a.example", "--no-reload")
    assert first.exit_code == 0 and "warning" not in first.stderr
    # the second ends the default: said when it happens, not at the next `add`
    second = invoke("--db", sqlite_url, "domain", "add", "b.example", "--no-reload")
    assert second.exit_code == 0
    assert "no longer default to a.example" in second.stderr
    configured = invoke("--db", sqlite_url, "--domain", "a.example", "domain", "add",
                        "c.example", "--no-reload")  # fmt: skip
    assert configured.exit_code == 0 and "no longer" not in configured.stderr
    assert invoke("--db", sqlite_url, "add", "1001", "pass", "--no-reload").exit_code == 2
    r = invoke("--db", sqlite_url, "--domain", "c.example", "add", "1001", "pw", "--no-reload")
    assert r.exit_code == 0, r.stderr
    assert invoke("--db", sqlite_url, "--json", "show").json()[0]["domain"] == "c.example"
