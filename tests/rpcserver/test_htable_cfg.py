"""kamtool.proxy.htable (per-table autoexpire) and kamtool.proxy.cfg (run-time variables)."""

from __future__ import annotations

import asyncio
import json
import logging

from kamtool.proxy.cfg import CfgStore, debug_to_logging_level, default_cfg
from kamtool.proxy.htable import HashTable, HtableStore, default_tables
from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods.build import build_registry
from kamtool.rpc.server.dispatch import handle_bytes


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _rpc(reg, method: str, *params):
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
    return asyncio.run(handle_bytes(reg, body.encode())).body


def test_autoexpire_per_table() -> None:
    clock = Clock()
    store = HtableStore(default_tables(clock))
    ipban, kv = store.get("ipban"), store.get("kv")
    ipban.set("10.0.0.1", 1)
    kv.set("k", "v")
    clock.now += 299
    assert ipban.get("10.0.0.1") is not None
    ipban.set("10.0.0.1", 2)  # updateexpire: a new write restarts the 300 s
    clock.now += 299
    assert ipban.get("10.0.0.1").value == 2
    clock.now += 2
    assert ipban.get("10.0.0.1") is None
    assert kv.get("k").value == "v"  # kv never expires
    ipban.set("a", 1)
    assert ipban.set_expire("a", 10) and not ipban.set_expire("missing", 10)
    clock.now += 11
    assert store.sweep() == 1 and ipban.items == {}


def test_no_updateexpire_keeps_the_first_deadline() -> None:
    clock = Clock()
    t = HashTable("t", autoexpire=10, updateexpire=0, clock=clock)
    t.set("k", 1)
    clock.now += 8
    t.set("k", 2)
    clock.now += 3
    assert t.get("k") is None


def test_htable_rpc_over_the_store() -> None:
    clock = Clock()
    store = HtableStore(default_tables(clock))
    reg = build_registry(statistics=Statistics(), htables=store)
    assert _rpc(reg, "htable.seti", "ipban", "k1", 5)["result"] == "Ok. Key set to new value."
    assert _rpc(reg, "htable.sets", "ipban", "k2", "x")["result"] == "Ok. Key set to new value."
    item = _rpc(reg, "htable.get", "ipban", "k2")["result"]["item"]
    assert (item["value"], item["flags"]) == ("x", 2)
    dump = _rpc(reg, "htable.dump", "ipban")["result"]
    assert sorted(s["name"] for e in dump for s in e["slot"]) == ["k1", "k2"]
    assert [e["entry"] for e in dump] == sorted(e["entry"] for e in dump)
    stats = {s["name"]: s for s in _rpc(reg, "htable.stats")["result"]}
    assert stats["ipban"]["all"] == 2 and stats["ipban"]["max"] >= 1 and stats["kv"]["all"] == 0
    assert _rpc(reg, "htable.setex", "ipban", "k1", 5)["result"] == "Ok"
    clock.now += 6
    assert _rpc(reg, "htable.get", "ipban", "k1")["error"]["code"] == 500
    assert _rpc(reg, "htable.flush", "ipban")["result"] == {}
    assert _rpc(reg, "htable.dump", "ipban")["result"] == []
    assert _rpc(reg, "htable.seti", "ipban", "k", "notint")["error"]["code"] == -32602
    # a number where a string is wanted (kamcmd's typing of `htable.sets ipban 10 42`)
    # means its decimal text; a float or a boolean does not
    assert _rpc(reg, "htable.sets", "ipban", 10, 42)["result"] == "Ok. Key set to new value."
    assert _rpc(reg, "htable.get", "ipban", "10")["result"]["item"]["value"] == "42"
    assert _rpc(reg, "htable.sets", "ipban", 1.5, "x")["error"]["code"] == -32602
    assert _rpc(reg, "htable.sets", "ipban", True, "x")["error"]["code"] == -32602


def test_cfg_store_and_methods() -> None:
    cfg = default_cfg(logger="kamtool.test-cfg")
    seen: list = []
    cfg.declare("tm", "fr_timer", 5000, "final response timer (ms)", seen.append)
    cfg.declare("core", "server_header", "Server: kamtool")
    reg = build_registry(statistics=Statistics(), cfg=cfg)
    assert _rpc(reg, "cfg.sets", "core", "debug", "3")["result"] == {}
    assert _rpc(reg, "cfg.get", "core", "debug")["result"] == 3
    assert logging.getLogger("kamtool.test-cfg").level == logging.DEBUG
    assert _rpc(reg, "cfg.sets", "core", "debug", "abc")["error"] == {
        "code": 400,
        "message": "Failed to set the variable",
    }
    assert _rpc(reg, "cfg.seti", "core", "server_header", 1)["error"]["code"] == 400
    assert _rpc(reg, "cfg.sets", "core", "server_header", "Server: x")["result"] == {}
    assert _rpc(reg, "cfg.seti", "tm", "fr_timer", 2000)["result"] == {} and seen == [2000]
    assert "tm: fr_timer" in _rpc(reg, "cfg.list")["result"]
    assert _rpc(reg, "cfg.help", "tm", "fr_timer")["result"] == (
        "final response timer (ms) (parameter type is integer)"
    )
    assert not CfgStore().set("core", "debug", 1)  # unknown in an empty store


def test_debug_levels_map_to_logging() -> None:
    assert [debug_to_logging_level(n) for n in (-3, -1, 0, 1, 2, 3, 4)] == [
        logging.ERROR, logging.ERROR, logging.WARNING, logging.INFO, logging.INFO,
        logging.DEBUG, logging.DEBUG,
    ]  # fmt: skip
