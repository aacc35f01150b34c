"""speeddial, avp (usr_preferences), rpid and subscriber attributes on each engine
(Kamailio's speeddial and avpops reading the same rows: test_modules_kamailio.py)."""

from __future__ import annotations

from tests.provisioning.conftest import rows
from tests.support.cli import invoke


def kt(url: str, *args: str):
    return invoke("--db", url, "--domain", "example.org", *args)


def ok(url: str, *args: str):
    r = kt(url, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def test_speeddial_add_show_rm(url):
    ok(url, "speeddial", "add", "1001", "12", "sip:4930123@gw.example.org", "office")
    ok(url, "speeddial", "add", "1002@other.org", "1", "sip:voicemail@example.org")
    cols = "username, domain, sd_username, sd_domain, new_uri, description"
    assert rows(url, "speed_dial", cols) == [
        ("1001", "example.org", "12", "example.org", "sip:4930123@gw.example.org", "office"),
        ("1002", "other.org", "1", "other.org", "sip:voicemail@example.org", ""),
    ]  # fmt: skip
    assert kt(url, "--json", "speeddial", "add", "1001", "12", "sip:x@y").exit_code == 4
    assert kt(url, "speeddial", "add", "1001", "13", "gw.example.org").exit_code == 2
    assert kt(url, "speeddial", "add", "1001", "14", "sip:gw.example.org").exit_code == 2
    mine = ok(url, "--json", "speeddial", "show", "1001").json()
    assert [(r["sd_username"], r["new_uri"]) for r in mine] == [
        ("12", "sip:4930123@gw.example.org")
    ]
    assert len(ok(url, "--json", "speeddial", "show").json()) == 2
    ok(url, "speeddial", "rm", "1001", "12")
    assert kt(url, "speeddial", "rm", "1001", "12").exit_code == 3


def test_avp_add_list_rm_with_types(url):
    ok(url, "avp", "add", "1001@example.org", "callfwd", "0", "sip:1002@example.org")
    ok(url, "avp", "add", "1001@example.org", "maxcalls", "1", "3")
    ok(url, "avp", "add", "abc-uuid", "7", "2", "seven")
    assert rows(url, "usr_preferences", "uuid, username, domain, attribute, type, value") == [
        ("", "1001", "example.org", "callfwd", 0, "sip:1002@example.org"),
        ("", "1001", "example.org", "maxcalls", 1, "3"),
        ("abc-uuid", "", "", "7", 2, "seven"),
    ]
    assert kt(url, "avp", "add", "1001@example.org", "n", "1", "x").exit_code == 2
    assert kt(url, "avp", "add", "1001@example.org", "name", "2", "x").exit_code == 2
    assert kt(url, "avp", "add", "1001@example.org", "n", "4", "x").exit_code == 2
    assert kt(url, "avp", "add", "1001@example.org", "maxcalls", "1", "3").exit_code == 4
    listed = ok(url, "--json", "avp", "list", "--user", "1001@example.org").json()
    assert [r["attribute"] for r in listed] == ["callfwd", "maxcalls"]
    assert [r["value"] for r in ok(url, "--json", "avp", "list", "-t", "2").json()] == ["seven"]
    assert kt(url, "avp", "rm").exit_code == 2  # no filter: refuses to empty the table
    r = ok(url, "--json", "avp", "rm", "-u", "1001@example.org", "-a", "maxcalls").json()
    assert r["count"] == 1
    assert kt(url, "avp", "rm", "-a", "nothing").exit_code == 3


def test_rpid_is_one_preference_per_user(url):
    ok(url, "rpid", "add", "1001", "<sip:+4930123@example.org>")
    ok(url, "rpid", "add", "1001", "<sip:+4930999@example.org>")
    assert rows(url, "usr_preferences", "username, domain, attribute, value") == [
        ("1001", "example.org", "rpid", "<sip:+4930999@example.org>")
    ]
    assert ok(url, "--json", "rpid", "show", "1001").json() == [
        {"username": "1001", "domain": "example.org", "rpid": "<sip:+4930999@example.org>"}
    ]
    ok(url, "rpid", "rm", "1001")
    assert kt(url, "rpid", "rm", "1001").exit_code == 3


def test_subscriber_attributes_on_an_extra_column(db_url):
    ok(db_url, "dbctl", "create")
    ok(db_url, "add", "1001", "secret")
    from kamtool.db.connect import connected

    with connected(db_url, auto_create=False) as db:
        db.execute_sql("ALTER TABLE subscriber ADD COLUMN pin VARCHAR(16) DEFAULT NULL")
        db.execute_sql("ALTER TABLE subscriber ADD COLUMN vmbox INTEGER DEFAULT NULL")
    ok(db_url, "subscriber", "setattrs", "1001", "pin", "4711")
    ok(db_url, "subscriber", "setattri", "1001", "vmbox", "12")
    assert rows(db_url, "subscriber", "pin, vmbox") == [("4711", 12)]
    got = ok(db_url, "--json", "subscriber", "getattrs", "1001").json()
    assert got["pin"] == "4711" and "password" not in got and "ha1" not in got
    ok(db_url, "subscriber", "setattrnull", "1001", "pin")
    assert rows(db_url, "subscriber", "pin") == [(None,)]
    assert kt(db_url, "subscriber", "setattri", "1001", "vmbox", "x").exit_code == 2
    bad = kt(db_url, "subscriber", "setattrs", "1001", "ha1", "x")
    assert bad.exit_code == 2 and "kamtool passwd" in bad.stderr
    missing = kt(db_url, "subscriber", "setattrs", "1001", "nope", "x")
    assert missing.exit_code == 2 and "pin" in missing.stderr  # the hint lists the columns
    assert kt(db_url, "subscriber", "setattrs", "1002", "pin", "1").exit_code == 3
