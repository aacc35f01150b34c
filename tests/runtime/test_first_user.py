"""A first user's commands against a real Kamailio 5.6 and against ``kamtool serve`` (the
``target`` fixture), issue 13.

Two quick edits of a cached table: add, then remove within a second. The second reload
meets the server's 5-second reload guard ("Ongoing reload"); kamtool waits it out and
retries, so the server's own list ends without the removed row. Plain mistakes (a
statistic that does not exist, ``tm:`` for ``tmx:``) get "not found" and exit 3."""

from __future__ import annotations

import time

import pytest

from kamtool.core import reload as reload_mod
from tests.rpc.fakes import FakeHttp
from tests.support.cli import invoke

pytestmark = pytest.mark.slow


def kt(target, *args: str):
    r = invoke("--db", target.server.db_url, "--rpc", target.server.rpc_http_url, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def dispatcher_uris(target) -> set[str]:
    answer = target.rpc("dispatcher.list")
    return {
        dest["DEST"]["URI"] for rec in answer.get("RECORDS", []) for dest in rec["SET"]["TARGETS"]
    }


def test_dispatcher_add_then_rm_within_a_second(target):
    uri = "sip:127.0.0.1:5077"
    started = time.monotonic()
    row = kt(target, "--json", "dispatcher", "add", "4", uri).json()
    assert uri in dispatcher_uris(target)
    rows = row.get("rows") or [row]
    kt(target, "dispatcher", "rm", str(rows[0]["id"]))
    assert uri not in dispatcher_uris(target)
    # the rm came within the guard of the add's reload: it was retried, not dropped
    assert time.monotonic() - started > 1.0


def test_address_add_then_rm_within_a_second(target):
    def ips() -> set[str]:
        hosts = {a["item"]["ip"] for a in target.rpc("permissions.addressDump")}
        return hosts | {s["item"]["ip"] for s in target.rpc("permissions.subnetDump")}

    kt(target, "address", "add", "1", "10.9.9.9")
    assert "10.9.9.9" in ips()
    r = kt(target, "address", "rm", "1", "10.9.9.9")
    assert "10.9.9.9" not in ips(), r.stderr
    kt(target, "address", "add", "1", "10.7.0.0", "16")
    assert "10.7.0.0" in ips()
    kt(target, "address", "rm", "1", "10.7.0.0")
    assert "10.7.0.0" not in ips()


def test_trusted_add_then_rm_within_a_second(target):
    if not target.trusted_table_loaded:
        # the reference cfg loads no trusted table: nothing to reload, a warning, exit 0
        r = kt(target, "trusted", "add", "10.8.8.8", "any")
        assert "no trusted table" in r.stderr
        kt(target, "trusted", "rm", "10.8.8.8")
        return

    def ips() -> set[str]:
        return {t["item"]["ip"] for t in target.rpc("permissions.trustedDump")}

    kt(target, "trusted", "add", "10.8.8.8", "any")
    assert "10.8.8.8" in ips()
    kt(target, "trusted", "rm", "10.8.8.8")
    assert "10.8.8.8" not in ips()


def test_a_reload_that_keeps_failing_exits_non_zero(tmp_path, monkeypatch):
    """The guard never lets go: the edit stands, the command exits 7 and says so."""
    import json

    monkeypatch.setattr(reload_mod, "RETRY_FOR", 1.0)

    def refuse(req):
        doc = {
            "jsonrpc": "2.0",
            "id": req["id"],
            "error": {"code": 500, "message": "Ongoing reload"},
        }
        return 500, json.dumps(doc).encode()

    db = "sqlite:///" + str(tmp_path / "k.sqlite")
    with FakeHttp(refuse) as srv:
        r = invoke("--db", db, "--rpc", srv.url, "dispatcher", "add", "1", "sip:127.0.0.1:5090")
        assert r.exit_code == 7, (r.stdout, r.stderr)
        assert "did not reload" in r.stderr and "kamtool dispatcher reload" in r.stderr
        assert len(srv.requests) >= 2  # retried before giving up
        j = invoke("--db", db, "--rpc", srv.url, "--json", "address", "add", "1", "10.1.2.3")
    assert j.exit_code == 7
    err = j.json()["error"]
    assert err["code"] == "reload_failed" and err["details"]["change"]["kind"] == "address"
    shown = invoke("--db", db, "--json", "dispatcher", "show").json()
    assert [row["destination"] for row in shown] == ["sip:127.0.0.1:5090"]  # the edit stands


@pytest.mark.parametrize(
    ("selector", "hint"),
    [("nosuch_stat", None), ("tm:", "tmx:"), ("tm:rpl_received", "tmx:rpl_received")],
)
def test_stats_not_found_exits_3_with_a_suggestion(target, selector, hint):
    r = invoke("--rpc", target.server.rpc_http_url, "stats", selector)
    assert r.exit_code == 3, (r.stdout, r.stderr)
    assert f"no such statistic: {selector}" in r.stderr
    if hint:
        assert hint in r.stderr
    j = invoke("--rpc", target.server.rpc_http_url, "--json", "stats", "core:", selector).json()
    assert j["error"]["code"] == "not_found" and j["error"]["exit_status"] == 3
    ok = invoke("--rpc", target.server.rpc_http_url, "--json", "stats", "tmx:", "rcv_requests")
    assert ok.exit_code == 0 and {r["group"] for r in ok.json()} == {"tmx", "core"}


def test_ul_add_refuses_a_contact_that_is_no_uri(target):
    """`ul add 1001 notauri` was accepted; calls to 1001 then got 404."""
    rpc = ("--rpc", target.server.rpc_http_url)
    r = invoke(*rpc, "ul", "add", "7001", "notauri")
    assert r.exit_code == 2 and "contact 'notauri' is not a SIP URI" in r.stderr
    shown = invoke(*rpc, "--json", "ul", "show", "7001")
    assert shown.exit_code == 3, shown.stdout  # nothing was added
    good = invoke(*rpc, "ul", "add", "7001", "sip:7001@127.0.0.1:5099;transport=tcp")
    assert good.exit_code == 0, good.stderr
    doc = invoke(*rpc, "--json", "ul", "show", "7001").json()
    assert "sip:7001@127.0.0.1:5099;transport=tcp" in str(doc)
    assert invoke(*rpc, "ul", "rm", "7001").exit_code == 0


def test_an_explicit_reload_right_after_another_waits_for_the_guard(target):
    """`dispatcher reload` twice in a row: the second is refused by the 5 s guard
    ("Ongoing reload"), then retried, and succeeds; so does `address reload`."""
    rpc = ("--rpc", target.server.rpc_http_url)
    for group in ("dispatcher", "address"):
        first = invoke(*rpc, group, "reload")
        assert first.exit_code == 0, first.stderr
        second = invoke(*rpc, group, "reload")
        assert second.exit_code == 0, second.stderr
        assert "retrying" in second.stderr.lower()
