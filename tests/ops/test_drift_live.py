"""`kamtool export | apply | drift` against a database made by kamctl (with a real
Kamailio 5.6 running on it) and by kamtool (kamtool's proxy): the export round-trips, a
reload skipped on purpose shows up as drift between the database and the server."""

from __future__ import annotations

import time

import pytest

from tests.support.cli import invoke
from tests.support.targets import running


@pytest.fixture(params=["kamailio", "kamtool"])
def target(request, tmp_path):
    with running(request.param, tmp_path) as t:  # the demo rows: kamctl's or kamtool's
        yield t


def kt(t, *args: str):
    return invoke("--db", t.server.db_url, "--rpc", t.server.rpc_http_url, "--domain",
                  "127.0.0.1", "--json", *args)  # fmt: skip


def test_export_apply_and_a_skipped_reload(target, tmp_path):
    state = tmp_path / "state.toml"
    res = kt(target, "export", str(state), "--secrets")
    assert res.exit_code == 0, res.stdout
    text = state.read_text()
    assert 'user = "1001@127.0.0.1"' in text and "sip:127.0.0.1:5062" in text
    # the rows kamctl (or kamtool) made are what the file says: nothing to do, no drift
    assert kt(target, "apply", str(state), "--plan").json()["steps"] == []
    res = kt(target, "drift", str(state))
    assert res.exit_code == 0, res.stdout
    assert res.json()["in_sync"] is True
    # a new destination, applied without the reload: the server still has the old set
    state.write_text(text + '\n[[dispatcher]]\nset = 1\nuri = "sip:127.0.0.1:5064"\n')
    drift = kt(target, "drift", str(state))
    assert drift.exit_code == 9
    assert [(d["where"], d["table"]) for d in drift.json()["differences"]] == [
        ("file/db", "dispatcher")]  # fmt: skip
    applied = kt(target, "apply", str(state), "--no-reload")
    assert applied.exit_code == 0, applied.stdout
    assert [r["status"] for r in applied.json()["reloads"]] == ["skipped"]
    drift = kt(target, "drift", str(state))
    assert drift.exit_code == 9
    diffs = drift.json()["differences"]
    assert [(d["where"], d["table"], d["what"]) for d in diffs] == [
        ("db/memory", "dispatcher", "1 sip:127.0.0.1:5064")]  # fmt: skip
    assert "reload due" in diffs[0]["detail"]
    # the reload (Kamailio refuses one within 5 s of the last): then all agree
    deadline = time.monotonic() + 15
    while kt(target, "dispatcher", "reload").exit_code != 0:
        assert time.monotonic() < deadline, "dispatcher.reload kept failing"
        time.sleep(1)
    res = kt(target, "drift", str(state))
    assert res.exit_code == 0, res.stdout


def test_apply_reloads_what_changed(target, tmp_path):
    state = tmp_path / "state.toml"
    state.write_text(
        '[[address]]\ngroup = 3\nip = "192.0.2.7"\ntag = "new"\n'
        '[[address]]\ngroup = 1\nip = "10.0.0.10"\nport = 5060\ntag = "trusted-gw"\n'
        '[[address]]\ngroup = 2\nip = "127.0.0.0"\nmask = 8\ntag = "loopback"\n'
    )
    res = kt(target, "apply", str(state))
    assert res.exit_code == 0, res.stdout
    assert [(r["table"], r["status"]) for r in res.json()["reloads"]] == [("address", "reloaded")]
    dump = kt(target, "address", "dump").json()
    assert any(r["ip"] == "192.0.2.7" and r["group"] == 3 for r in dump)
    assert kt(target, "drift", str(state)).exit_code == 0
