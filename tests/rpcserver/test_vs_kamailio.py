"""Live comparison with a real Kamailio 5.6: the same requests, sent to Kamailio's jsonrpcs
and to kamtool's server (state brought to the same point with the same RPCs), answer with
the same shapes, and the same codes and messages for the errors both report."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.rpcserver.conftest import ServerThread
from tests.rpcserver.shape import shape_diff

pytestmark = pytest.mark.kamailio

# Done on both before comparing: the same state changes through the same RPCs.
SETUP = [
    ("ul.add", ["location", "1004", "sip:1004@127.0.0.1:5061", 600, 0.8, "", 0, 0, 4294967295]),
    ("ul.add", ["location", "1005", "sip:1005@127.0.0.1:5062", 600, -1, "", 0, 0, 4294967295]),
    ("htable.sets", ["ipban", "10.0.0.99", "blocked"]),
    ("htable.seti", ["ipban", "10.0.0.98", 1]),
]

CALLS = [
    ("core.uptime", []),
    ("core.psx", []),
    ("core.ps", []),
    ("core.info", []),
    ("core.echo", ["text", 42]),
    ("system.methodHelp", ["core.psx"]),
    ("stats.get_statistics", ["all"]),
    ("stats.get_statistics", ["usrloc:"]),
    ("stats.get_statistics", ["nosuchstat"]),
    ("stats.fetch", ["core:"]),
    ("stats.fetchn", ["all"]),
    ("stats.reset_statistics", ["rcv_requests"]),
    ("stats.clear_statistics", ["fwd_requests"]),
    ("sl.stats", []),
    ("tm.stats", []),
    ("ul.dump", []),
    ("ul.dump", ["brief"]),
    ("ul.lookup", ["location", "1004"]),
    ("ul.lookup", ["location", "9999"]),
    ("ul.lookup", ["nosuchtable", "1004"]),
    ("ul.lookup", ["location"]),
    ("ul.rm_contact", ["location", "1004", "sip:1004@127.0.0.1:5999"]),
    ("ul.rm", ["location", "1005"]),
    ("htable.dump", ["ipban"]),
    ("htable.dump", ["nosuchtable"]),
    ("htable.get", ["ipban", "10.0.0.98"]),
    ("htable.get", ["ipban", "10.0.0.1"]),
    ("htable.get", ["ipban"]),
    ("htable.delete", ["ipban", "10.0.0.97"]),
    ("htable.listTables", []),
    ("htable.stats", []),
    ("cfg.get", ["core", "debug"]),
    ("cfg.get", ["core", "nosuchvar"]),
    ("cfg.seti", ["core", "nosuchvar", 1]),
    ("dlg.list", []),
    ("dlg.stats_active", []),
    ("dlg.profile_list", ["nosuchprofile"]),
    ("dlg.end_dlg", [1, 1]),
    ("pike.top", []),
    ("no.such_method", []),
]


def _kamailio_call(url: str, method: str, params: list) -> tuple[int, dict]:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_same_answers_as_kamailio(kamailio, tmp_path: Path) -> None:
    from kamtool.rpc.server import RpcServer
    from tests.rpcserver.fakes import FakeState

    state = FakeState()
    state.usrloc.records.clear()
    state.dialogs.items.clear()
    ours = ServerThread(
        lambda: RpcServer(state.registry(), "127.0.0.1", 0, fifo=False, dgram=False)
    )
    try:
        for method, params in SETUP:
            _kamailio_call(kamailio.rpc_http_url, method, params)
            _kamailio_call(ours.server.url, method, params)
        problems = []
        for method, params in CALLS:
            k_status, k_reply = _kamailio_call(kamailio.rpc_http_url, method, params)
            o_status, o_reply = _kamailio_call(ours.server.url, method, params)
            where = f"{method} {params}"
            if "error" in k_reply:
                if o_reply.get("error") != k_reply["error"] or o_status != k_status:
                    problems.append(f"{where}: {o_status} {o_reply} != {k_status} {k_reply}")
                continue
            if "result" not in o_reply:
                problems.append(f"{where}: error {o_reply} where Kamailio answered")
                continue
            diff = shape_diff(o_reply["result"], k_reply["result"])
            if diff:
                problems.append(f"{where}: {diff[:3]}")
        assert not problems, "\n".join(problems)
    finally:
        ours.stop()


def test_an_item_that_never_expires_says_never(kamailio) -> None:
    """htable.get of an item in a table without autoexpire (the cfg's ``kv``): "NEVER",
    not the epoch as a date (kamtool said 1970-01-01 00:00:00)."""
    from kamtool.rpc.server import RpcServer
    from tests.rpcserver.fakes import FakeState

    ours = ServerThread(
        lambda: RpcServer(FakeState().registry(), "127.0.0.1", 0, fifo=False, dgram=False)
    )
    try:
        answers = []
        for url in (kamailio.rpc_http_url, ours.server.url):
            _kamailio_call(url, "htable.sets", ["kv", "never", "v1"])
            status, reply = _kamailio_call(url, "htable.get", ["kv", "never"])
            answers.append((status, reply.get("result", reply)))
        assert answers[0] == answers[1]
        assert answers[1][1]["item"]["expire"] == "NEVER"
    finally:
        ours.stop()
