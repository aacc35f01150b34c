"""kamctl's spellings of provisioning commands, against a real Kamailio 5.6 with the
modules: an operator's ``kamctl lcr show_gws`` typed as ``kamtool lcr show_gws`` was
"No such command"."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke


@pytest.mark.kamailio
def test_lcr_kamctl_verbs(modules_kamailio):
    kt = modules_kamailio.kt
    setup = (
        ("lcr", "gw", "add", "10.3.0.1", "--name", "gw1"),
        ("lcr", "rule", "add", "49"),
        ("lcr", "target", "add", "1", "1", "1"),
    )
    for args in setup:
        r = kt(*args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
    verbs = {
        "show_gws": ("gw", "show"),
        "show_routes": ("rule", "show"),
        "dump_gws": ("dump-gws",),
        "dump_routes": ("dump-rules",),
    }
    for kamctl_verb, ours in verbs.items():
        theirs = kt("--json", "lcr", kamctl_verb)
        assert theirs.exit_code == 0, (kamctl_verb, theirs.stdout, theirs.stderr)
        assert theirs.json() == kt("--json", "lcr", *ours).json()
        assert theirs.json(), kamctl_verb  # the row is there (and loaded by Kamailio)


def test_kamctl_command_names(target):
    """kamctl's names for kamtool's commands, on both servers: ``dispatcher dump``,
    ``domain showdb``, ``dialog show`` (every dialog), ``usrloc``, ``alias_db``,
    ``speed_dial``, ``fifo``/``kamcmd`` were "No such command"."""
    base = ("--json", "--db", "sqlite:///" + str(target.db_file), "--rpc", target.url("http"))

    def kt(*args):
        r = invoke(*base, *args)
        assert r.exit_code == 0, (args, r.stdout, r.stderr)
        return r.json()

    assert kt("dispatcher", "dump") == kt("dispatcher", "list")
    assert kt("domain", "showdb") == kt("domain", "show")
    assert kt("dialog", "show") == kt("dlg", "list") == []
    assert kt("usrloc", "show") == kt("ul", "show")
    assert kt("alias_db", "show") == kt("alias", "show")
    assert kt("speed_dial", "show", "1001") == kt("speeddial", "show", "1001")
    version = kt("fifo", "core.version")
    assert version == kt("kamcmd", "core.version") and version.strip() == target.version


def test_kamctl_sets_setn_and_db_exec(tmp_path):
    """``kamctl sets|setn USER COLUMN VALUE`` and ``kamctl db exec|roexec|showg`` were
    "No such command"."""
    import sqlite3

    path = tmp_path / "k.sqlite"
    db = ("--db", f"sqlite:///{path}", "--domain", "example.com")
    assert invoke(*db, "add", "1001", "pw").exit_code == 0
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE subscriber ADD COLUMN email_address VARCHAR(64) DEFAULT ''")
    conn.execute("ALTER TABLE subscriber ADD COLUMN cnt INTEGER DEFAULT 0")
    conn.commit()
    conn.close()
    assert invoke(*db, "sets", "1001", "email_address", "a@example.com").exit_code == 0
    assert invoke(*db, "setn", "1001", "cnt", "5").exit_code == 0
    assert invoke(*db, "setn", "1001", "cnt", "five").exit_code == 2
    row = invoke(*db, "--json", "subscriber", "getattrs", "1001").json()
    assert (row["email_address"], row["cnt"]) == ("a@example.com", 5)
    r = invoke(*db, "db", "exec", "UPDATE subscriber SET cnt = 6 WHERE username = '1001'")
    assert r.exit_code == 0, r.stderr
    refused = invoke(*db, "db", "roexec", "UPDATE subscriber SET cnt = 7")
    assert refused.exit_code == 2  # read-only, as kamctl's roexec uses the RO user
    got = invoke(*db, "--json", "db", "roexec", "SELECT cnt FROM subscriber").json()
    assert got == [{"cnt": 6}]
    assert invoke(*db, "--json", "db", "showg", "subscriber").json()[0]["cnt"] == 6


def test_kamctl_srv_version_and_debug(target):
    """``kamctl srv version`` and ``kamctl srv debug`` were "No such command"."""
    rpc = ("--json", "--rpc", target.url("http"))
    r = invoke(*rpc, "srv", "version")
    assert r.exit_code == 0, r.stderr
    assert r.json() == invoke(*rpc, "version").json()
    r = invoke(*rpc, "srv", "debug")
    assert r.exit_code == 0, r.stderr
    assert r.json() == invoke(*rpc, "debug").json()


def test_kamcli_subscriber_verbs_and_builtin_aliases(tmp_path, monkeypatch):
    """kamcli's ``subscriber add|passwd|show|rm`` and its built-in aliases ``subs`` and
    ``sht`` (which kamcli has with no kamcli.ini) were "No such command"."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kamcli/kamcli.ini
    monkeypatch.chdir(tmp_path)
    db = ("--db", f"sqlite:///{tmp_path / 'k.sqlite'}", "--domain", "example.com")
    assert invoke(*db, "subscriber", "add", "1001", "pw").exit_code == 0
    assert invoke(*db, "subs", "passwd", "1001", "pw2").exit_code == 0
    shown = invoke(*db, "--json", "subscriber", "show", "1001", "--secrets").json()
    assert [(r["username"], r["password"]) for r in shown] == [("1001", "pw2")]
    assert invoke(*db, "subs", "rm", "1001").exit_code == 0
    assert invoke(*db, "show", "1001").exit_code == 3


def test_kamcli_sht_alias(target):
    rpc = ("--json", "--rpc", target.url("http"))
    r = invoke(*rpc, "sht", "list")
    assert r.exit_code == 0, r.stderr
    assert r.json() == invoke(*rpc, "htable", "list").json()


def test_kamctl_acc_initdb_and_showdb(tmp_path):
    """``kamctl acc initdb`` (the extra acc columns) and ``acc showdb``."""
    db = ("--json", "--db", f"sqlite:///{tmp_path / 'k.sqlite'}")
    r = invoke(*db, "acc", "initdb")
    assert r.exit_code == 0, r.stderr
    assert "acc.src_user" in r.json()["added"]
    assert invoke(*db, "acc", "struct-update").json()["added"] == []  # the same columns
    assert invoke(*db, "acc", "showdb").json() == invoke(*db, "acc", "show").json() == []


def test_kamcli_ini_aliases_of_more_commands(tmp_path, monkeypatch):
    """kamcli.ini ``[cmdaliases]`` naming kamcli's dialplan, uacreg, mtree ... (which kamtool
    has under the same names) were dropped: ``kamtool dp show`` was "No such command"."""
    monkeypatch.setenv("HOME", str(tmp_path))
    ini = tmp_path / "kamcli.ini"
    ini.write_text("[cmdaliases]\ndp = dialplan\nreg = uacreg\nmt = mtree\n")
    db = ("--kamcli-ini", str(ini), "--json", "--db", f"sqlite:///{tmp_path / 'k.sqlite'}")
    for alias, command in (("dp", "dialplan"), ("reg", "uacreg"), ("mt", "mtree")):
        r = invoke(*db, alias, "show")
        assert r.exit_code == 0, (alias, r.stdout, r.stderr)
        assert r.json() == invoke(*db, command, "show").json() == []


def test_kamdbctl_presence_and_extra(tmp_path):
    """``kamdbctl presence`` / ``kamdbctl extra`` add that group's tables to a database
    made with the standard ones only (were "No such command")."""
    db = ("--json", "--db", f"sqlite:///{tmp_path / 'k.sqlite'}")
    assert invoke(*db, "dbctl", "create", "--group", "standard").exit_code == 0
    for group, table in (("presence", "presentity"), ("extra", "uacreg")):
        r = invoke(*db, "dbctl", group)
        assert r.exit_code == 0, (group, r.stdout, r.stderr)
        assert r.json()["groups"] == [group] and table in r.json()["tables"]
    assert invoke(*db, "dbctl", "extra").exit_code == 4  # there already
