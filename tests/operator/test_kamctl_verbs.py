"""kamctl's spellings of provisioning commands, against a real Kamailio 5.6 with the
modules: an operator's ``kamctl lcr show_gws`` typed as ``kamtool lcr show_gws`` was
"No such command"."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kamailio


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
