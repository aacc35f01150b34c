"""`kamtool htable get|rm TABLE KEY` with a table the server does not have: Kamailio
answers "No such htable", which kamtool reported as "no key K in hash table T"."""

from __future__ import annotations

import pytest

from tests.support.cli import invoke


@pytest.mark.parametrize("command", ["get", "rm"])
def test_missing_table_is_named(target, command):
    r = invoke("--json", "--rpc", target.url("http"), "htable", command, "nosuchtable", "k")
    assert r.exit_code == 3, (r.stdout, r.stderr)
    assert r.json()["error"]["message"] == "no hash table nosuchtable"
    known = invoke("--json", "--rpc", target.url("http"), "htable", command, "ipban", "nokey")
    assert known.json()["error"]["message"] == "no key nokey in hash table ipban"
