"""`kamtool ul` with what a kamctl user types, on Kamailio 5.6 and on kamtool's proxy:
``ul add AOR CONTACT EXPIRES [PATH]`` (kamctl's positional form was refused as "unexpected
extra arguments") and an AoR written as a SIP URI (``ul show sip:1001@dom`` looked the URI
up as it is and answered "not registered"; kamctl strips the scheme). A permanent contact
(expires 0) is ``expires`` null and ``permanent`` true in JSON: usrloc's word "permanent"
where scripts expect a number broke arithmetic on the column."""

from __future__ import annotations

from tests.support.cli import invoke


def test_kamctl_positional_expires_and_sip_uri_aor(target):
    rpc = ("--rpc", target.url("http"))
    aor = "sip:7101@127.0.0.1"
    r = invoke(*rpc, "ul", "add", aor, "sip:7101@127.0.0.1:5099", "120")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    r = invoke(*rpc, "ul", "add", "7101", "sip:7101@127.0.0.1:5098", "0", ".")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    # kamctl's defaults for `ul add AOR CONTACT`: permanent, q 1.0 (a static trunk
    # contact added by a migrated script must not vanish an hour later)
    r = invoke(*rpc, "ul", "add", "7102", "sip:7102@127.0.0.1:5097")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    static = invoke(*rpc, "--json", "ul", "show", "7102").json()
    assert [(c["permanent"], c["q"]) for c in static] == [(True, 1.0)]
    assert invoke(*rpc, "ul", "rm", "7102").exit_code == 0
    too_long = invoke(*rpc, "ul", "add", "7102", "sip:7102@127.0.0.1:5097", "99999999999999")
    assert too_long.exit_code == 2, too_long.stdout
    shown = invoke(*rpc, "--json", "ul", "show", aor)
    assert shown.exit_code == 0, shown.stderr
    contacts = {row["contact"]: row for row in shown.json()}
    assert set(contacts) == {"sip:7101@127.0.0.1:5099", "sip:7101@127.0.0.1:5098"}
    assert 0 < contacts["sip:7101@127.0.0.1:5099"]["expires"] <= 120  # not the 3600 default
    assert contacts["sip:7101@127.0.0.1:5098"]["path"] is None  # kamctl's "." is no path
    timed, permanent = contacts["sip:7101@127.0.0.1:5099"], contacts["sip:7101@127.0.0.1:5098"]
    assert (timed["permanent"], permanent["permanent"]) == (False, True)
    assert permanent["expires"] is None and permanent["expired"] is False
    table = invoke(*rpc, "ul", "show", aor)
    assert table.exit_code == 0, table.stderr
    lines = {line.split("\t")[1]: line.split("\t")[2] for line in table.stdout.splitlines()[1:]}
    assert lines["sip:7101@127.0.0.1:5098"] == "permanent"
    assert 0 < int(lines["sip:7101@127.0.0.1:5099"]) <= 120
    assert invoke(*rpc, "ul", "rm", aor).exit_code == 0
    after = invoke(*rpc, "--json", "ul", "show", "7101")
    assert after.exit_code == 3 or after.json() == [], after.stdout
