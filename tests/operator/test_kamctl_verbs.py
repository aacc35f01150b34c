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
