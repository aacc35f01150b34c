"""`kamtool ul rm` names the AoR it removed as `ul add` names it (QA of the CLI).

With a default domain, ``ul add 7201 C`` said "added C to 7201@127.0.0.1" but ``ul rm
7201 C`` said "removed contact C of 7201" and its JSON had ``"aor": "7201"``: not the
AoR the server was asked about, so a script could not match the two."""

from __future__ import annotations

from tests.support.cli import invoke


def test_rm_reports_the_aor_with_the_default_domain(target):
    kt = ("--rpc", target.url("http"), "--domain", "127.0.0.1")
    contact = "sip:7201@127.0.0.1:5096"
    added = invoke(*kt, "ul", "add", "7201", contact, "120")
    assert added.exit_code == 0, added.stderr
    assert "7201@127.0.0.1" in added.stderr
    removed = invoke(*kt, "--json", "ul", "rm", "7201", contact)
    assert removed.exit_code == 0, removed.stdout
    assert removed.json() == {"ok": True, "aor": "7201@127.0.0.1", "contact": contact}
    invoke(*kt, "ul", "add", "7201", contact, "120")
    plain = invoke(*kt, "ul", "rm", "sip:7201@127.0.0.1")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stderr.strip() == "removed contacts of 7201@127.0.0.1"
