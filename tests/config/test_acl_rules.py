"""kamctl's ACL rules on `acl grant`: ACL_GROUPS (VERIFY_ACL) and user existence (VERIFY_USER)."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke


def _kt(rc, url, *args):
    return invoke("--kamctlrc", rc, "--db", url, *args)


def test_kamctl_rules_apply_with_a_kamctlrc(tmp_path, sqlite_url):
    rc = tmp_path / "kamctlrc"
    rc.write_text("SIP_DOMAIN=example.org\n")  # everything else: kamctl's defaults
    assert _kt(rc, sqlite_url, "add", "2001", "pw").exit_code == 0

    r = _kt(rc, sqlite_url, "acl", "grant", "2001", "intl", "local")
    assert r.exit_code == 2, r.stderr
    assert "invalid privilege: intl" in r.stderr
    assert "local ld int voicemail free-pstn" in r.stderr  # the allowed names, as kamctl says
    assert _kt(rc, sqlite_url, "--json", "acl", "show").json() == []  # nothing half-done

    r = _kt(rc, sqlite_url, "acl", "grant", "2999", "local")
    assert r.exit_code == 3 and "non-existent user '2999@example.org'" in r.stderr
    assert _kt(rc, sqlite_url, "acl", "grant", "2999", "local", "--force").exit_code == 0

    assert _kt(rc, sqlite_url, "acl", "grant", "2001", "int", "voicemail").exit_code == 0
    rows = _kt(rc, sqlite_url, "--json", "acl", "show", "2001").json()
    assert sorted(r["grp"] for r in rows) == ["int", "voicemail"]


def test_verify_off_and_custom_groups(tmp_path, sqlite_url):
    rc = tmp_path / "kamctlrc"
    rc.write_text("SIP_DOMAIN=example.org\nVERIFY_ACL=0\nVERIFY_USER=0\n")
    assert _kt(rc, sqlite_url, "acl", "grant", "3001", "anything").exit_code == 0
    rc.write_text('SIP_DOMAIN=example.org\nACL_GROUPS="gold silver"\nVERIFY_USER=0\n')
    assert _kt(rc, sqlite_url, "acl", "grant", "3001", "gold").exit_code == 0
    r = _kt(rc, sqlite_url, "acl", "grant", "3001", "local")
    assert r.exit_code == 2 and "gold silver" in r.stderr


def test_without_kamctlrc_any_group_is_taken_unless_toml_asks(tmp_path, sqlite_url):
    r = invoke("--db", sqlite_url, "--domain", "d.org", "acl", "grant", "4001", "intl")
    assert r.exit_code == 0, r.stderr
    toml = tmp_path / "kamtool.toml"
    toml.write_text('[acl]\nverify = true\ngroups = ["intl"]\nverify_user = true\n')
    base = ("--config", toml, "--db", sqlite_url, "--domain", "d.org", "acl", "grant")
    assert invoke(*base, "4002", "local").exit_code == 2
    assert invoke(*base, "4002", "intl").exit_code == 3  # no such subscriber


@pytest.mark.kamailio
def test_same_answers_as_kamctl_with_the_same_kamctlrc(kamailio):
    """kamctl and kamtool read one kamctlrc (the harness's: SQLite, SIP_DOMAIN) and agree."""
    k = kamailio
    rc = k.kamctlrc
    bad = k.kamctl("acl", "grant", "1001", "intl", check=False)
    assert "Invalid privilege" in bad.stdout + bad.stderr
    r = invoke("--kamctlrc", rc, "acl", "grant", "1001", "intl")
    assert r.exit_code == 2 and "invalid privilege: intl" in r.stderr

    nobody = k.kamctl("acl", "grant", "1999", "local", check=False)  # no answer on stdin
    assert "Non-existent user" in nobody.stdout + nobody.stderr and nobody.returncode != 0
    r = invoke("--kamctlrc", rc, "acl", "grant", "1999", "local")
    assert r.exit_code == 3 and "non-existent user '1999@127.0.0.1'" in r.stderr

    k.kamctl("acl", "grant", "1001", "local")
    r = invoke("--kamctlrc", rc, "acl", "grant", "1001", "ld")
    assert r.exit_code == 0, r.stderr
    rows = invoke("--kamctlrc", rc, "--json", "acl", "show", "1001").json()
    assert sorted(row["grp"] for row in rows) == ["ld", "local"]  # one table, both tools
