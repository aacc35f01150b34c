"""Runtime commands against a server replaying Kamailio's captured answers: the requests
they send (parameter types matter to Kamailio), their tables, --json and exit statuses."""

from __future__ import annotations

import json

import pytest

from tests.rpc.fakes import FakeHttp, replay, result
from tests.support.cli import invoke
from tests.support.reference import capture

OVERRIDES = {
    "ul.lookup": "ul.lookup.location.1001",
    "ul.flush": "ul.rm",  # not captured; answers {} like the other no-value methods
    "dlg.profile_get_size": "dlg.profile_get_size.caller.1003",
    "dispatcher.set_state": "dispatcher.set_state.ip",
    "htable.dump": "htable.dump.ipban",
    "htable.get": "htable.get.int",
    "pike.top": "pike.top.ALL",
    "cfg.get": "cfg.get.core.debug",
    "cfg.seti": "cfg.seti.core.debug.3",
    "stats.get_statistics": "stats.get_statistics.multi",
}


@pytest.fixture
def srv():
    with FakeHttp(replay(OVERRIDES)) as server:
        yield server


def kt(srv, *args, json_out=False):
    return invoke(*(["--json"] if json_out else []), "--rpc", srv.url, *args)


def sent(srv):
    return [(req["method"], req.get("params")) for _, req in srv.requests]


def test_ul_show_table_and_json(srv):
    r = kt(srv, "ul", "show")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t")[:4] == ["AOR", "CONTACT", "EXPIRES", "Q"]
    assert lines[1].split("\t")[:2] == ["1002", "sip:1002@127.0.0.1:5064"]
    assert len(lines) == 5
    rows = kt(srv, "ul", "dump", json_out=True).json()
    assert len(rows) == 4 and rows[1]["q"] == 0.5


def test_ul_show_one_aor_sends_it_as_a_string(srv):
    rows = kt(srv, "ul", "show", "1001", json_out=True).json()
    assert [r["contact"] for r in rows] == ["sip:1001@127.0.0.1:5061", "sip:1001@127.0.0.1:5067"]
    assert sent(srv) == [("ul.lookup", ["location", "1001"])]


def test_ul_show_unknown_aor_is_not_found():
    with FakeHttp(replay({"ul.lookup": "ul.lookup.not_found"})) as srv:
        r = kt(srv, "ul", "show", "9999", json_out=True)
    assert r.exit_code == 3
    assert r.json()["error"]["code"] == "not_found"


def test_ul_add_rm_flush_requests(srv):
    assert kt(srv, "ul", "add", "1004", "sip:1004@127.0.0.1:5061", "--expires", "600",
              "--q", "0.8").exit_code == 0  # fmt: skip
    assert kt(srv, "ul", "rm", "1003").exit_code == 0
    assert kt(srv, "ul", "rm", "1001", "sip:1001@127.0.0.1:5067").exit_code == 0
    assert kt(srv, "ul", "flush").exit_code == 0
    assert sent(srv) == [
        ("ul.add", capture("ul.add")["request"]["params"]),
        ("ul.lookup", ["location", "1003"]),
        ("ul.rm", ["location", "1003"]),
        ("ul.rm_contact", ["location", "1001", "sip:1001@127.0.0.1:5067"]),
        ("ul.flush", None),
    ]


def test_ul_show_brief(srv):
    r = kt(srv, "ul", "show", "--brief")
    assert r.stdout.split() == ["AOR", "1002", "1003", "1001"]


def test_dlg_commands(srv):
    rows = kt(srv, "dlg", "list", json_out=True).json()
    assert [r["h_entry"] for r in rows] == [3145, 3974, 4009]
    r = kt(srv, "dlg", "list")
    assert "1-12442@127.0.0.1" in r.stdout and "caller=1003, outbound" in r.stdout
    shown = kt(srv, "dlg", "show", "1-12442@127.0.0.1", json_out=True).json()
    assert shown[0]["call_id"] == "1-12442@127.0.0.1"
    assert kt(srv, "dlg", "stats", json_out=True).json() == result("dlg.stats_active")
    assert kt(srv, "dlg", "end", "4009", "947").exit_code == 0
    ended = kt(srv, "dlg", "end", "--callid", "1-12442@127.0.0.1", json_out=True).json()
    assert ended["ended"] == ["3145:3692"]
    prof = kt(srv, "dlg", "profile", "caller", "1003", json_out=True).json()
    assert prof["size"] == 1 and prof["dialogs"][0]["h_id"] == 3692
    assert ("dlg.end_dlg", [4009, 947]) in sent(srv)
    assert ("dlg.profile_list", ["caller", "1003"]) in sent(srv)
    assert kt(srv, "dlg", "end", "1").exit_code == 2


def test_dlg_not_found_cases():
    unknown = "dlg.profile_list.unknown_profile"
    over = {"dlg.end_dlg": "dlg.end_dlg.not_found", "dlg.profile_list": unknown,
            "dlg.profile_get_size": unknown}  # fmt: skip
    with FakeHttp(replay(over)) as srv:
        assert kt(srv, "dlg", "end", "1", "2").exit_code == 3
        assert kt(srv, "dlg", "profile", "nope").exit_code == 3


def test_stats_and_watch(srv):
    r = kt(srv, "stats", "rcv_requests", "usrloc:", "active_dialogs")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1].split("\t") == ["core", "rcv_requests", "84"]
    assert sent(srv)[-1] == ("stats.get_statistics", ["rcv_requests", "usrloc:", "active_dialogs"])
    w = kt(srv, "stats", "usrloc:", "--watch", "0.1", "--count", "2", json_out=True)
    samples = [json.loads(line) for line in w.stdout.splitlines()]
    assert len(samples) == 2
    assert samples[0]["stats"][0] == {"group": "core", "name": "rcv_requests", "value": 84,
                                      "rate": 0.0}  # fmt: skip
    assert kt(srv, "stats", "--reset", "sl:").exit_code == 0
    assert sent(srv)[-1] == ("stats.reset_statistics", ["sl:"])


def test_core_commands(srv):
    assert kt(srv, "version").stdout.strip() == "kamailio 5.6.3 (x86_64/linux)"
    assert kt(srv, "version", json_out=True).json() == {"version": "kamailio 5.6.3 (x86_64/linux)"}
    assert kt(srv, "uptime", json_out=True).json() == result("core.uptime")
    assert kt(srv, "info", json_out=True).json()["version"] == "kamailio 5.6.3"
    ps = kt(srv, "ps", json_out=True).json()
    assert ps[0] == {"index": 0, "pid": 10495, "description": "main process - attendant"}
    assert kt(srv, "debug").stdout.strip() == "2"
    assert kt(srv, "debug", "3", json_out=True).json()["previous"] == 2
    assert ("cfg.seti", ["core", "debug", 3]) in sent(srv)
    assert kt(srv, "debug", "9").exit_code == 2


def test_htable_pike_tm(srv):
    rows = kt(srv, "htable", "dump", "ipban", json_out=True).json()
    assert [r["name"] for r in rows] == ["10.0.0.98", "10.0.0.99"]
    assert kt(srv, "htable", "get", "ipban", "10.0.0.98", json_out=True).json()["value"] == 1
    assert kt(srv, "htable", "set", "ipban", "k", "5", "--int").exit_code == 0
    assert kt(srv, "htable", "set", "ipban", "k", "5").exit_code == 0
    assert kt(srv, "htable", "set", "ipban", "k", "x", "--int").exit_code == 2
    assert kt(srv, "htable", "rm", "ipban", "k").exit_code == 0
    assert ("htable.seti", ["ipban", "k", 5]) in sent(srv)
    assert ("htable.sets", ["ipban", "k", "5"]) in sent(srv)
    top = kt(srv, "pike", "top", "--all", json_out=True).json()
    assert top["max_hits"] == 200 and top["rows"][0]["ip"] == "127.0.0.3"
    assert kt(srv, "tm", "stats", json_out=True).json() == result("tm.stats")
