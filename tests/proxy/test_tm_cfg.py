"""tm's timers as run-time cfg variables (kamtool/proxy/tm_cfg.py): ``cfg.seti tm
fr_inv_timer`` in ms, applied to the transactions started afterwards. The live flow on
both servers is tests/interop/test_call_flows.py::test_fr_inv_timer_set_over_rpc_*."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from kamtool.proxy.stats import Statistics
from kamtool.proxy.tm_cfg import proxy_cfg
from kamtool.rpc.methods import RpcFault
from kamtool.rpc.methods.build import build_registry
from kamtool.sip.events import RequestReceived, TransactionTimeout
from kamtool.sip.timers import TimerConfig
from kamtool.sip.transaction import TransactionLayer, client_key
from tests.sip.sipnet import FAST, UAC, UAS, deliver, of, request, respond


def _proxy_layer() -> SimpleNamespace:
    """What proxy_cfg reads of kamtool.proxy.tm.TransactionLayer: its sip layer."""
    return SimpleNamespace(sip=TransactionLayer(TimerConfig(fr_timer=5.0, c=120.0)))


def _rpc(registry: Any, method: str, *params: Any) -> Any:
    return asyncio.run(registry.call(method, list(params)))


def test_cfg_rpcs_read_and_set_tm_timers_in_ms():
    tm = _proxy_layer()
    reg = build_registry(statistics=Statistics(), cfg=proxy_cfg(tm))
    assert _rpc(reg, "cfg.get", "tm", "fr_timer") == 5000
    assert _rpc(reg, "cfg.get", "tm", "fr_inv_timer") == 120000
    assert {"tm: fr_timer", "tm: fr_inv_timer", "core: debug"} <= set(_rpc(reg, "cfg.list"))
    assert _rpc(reg, "cfg.help", "tm", "fr_inv_timer").endswith("(parameter type is integer)")
    _rpc(reg, "cfg.seti", "tm", "fr_inv_timer", 3000)
    _rpc(reg, "cfg.sets", "tm", "fr_timer", "2500")
    assert (tm.sip.timers.c, tm.sip.timers.fr_timer, tm.sip.timers.b) == (3.0, 2.5, 2.5)
    assert _rpc(reg, "cfg.get", "tm", "fr_inv_timer") == 3000
    for bad in (0, -5):  # refused, the old value stays (a 0 ms timer ends branches at once)
        with pytest.raises(RpcFault) as err:
            _rpc(reg, "cfg.seti", "tm", "fr_inv_timer", bad)
        assert err.value.code == 400
    assert _rpc(reg, "cfg.get", "tm", "fr_inv_timer") == 3000 and tm.sip.timers.c == 3.0


def test_no_tm_no_tm_variables():
    """A UA's layer has no Timer C; an RPC server without a proxy has no tm at all."""
    ua = SimpleNamespace(sip=TransactionLayer(TimerConfig()))
    assert [n for g, n in proxy_cfg(ua).vars if g == "tm"] == ["fr_timer"]
    assert not [n for g, n in proxy_cfg(None).vars if g == "tm"]


def test_new_timer_c_applies_to_new_transactions_only():
    """As Kamailio copies fr_inv_timer into each new transaction, a branch sent before the
    change keeps the old Timer C even when its first 180 comes after it."""
    client = TransactionLayer(TimerConfig(fr_timer=30.0, c=120.0))
    server = TransactionLayer(FAST, trying_after=None)
    old = request("INVITE", branch="z9hG4bK-old")
    out = client.send_request(old, UAS, 0.0)
    client.set_timers(TimerConfig(fr_timer=30.0, c=2.0))  # cfg.seti tm fr_inv_timer 2000
    new = request("INVITE", branch="z9hG4bK-new", call_id="call-2@127.0.0.1")
    out += client.send_request(new, UAS, 0.0)
    for got in of(deliver(out, server, UAC, 0.0), RequestReceived):
        deliver(respond(server, got.key, got.request, 180, 1.0), client, UAS, 1.0)
    assert _timeouts(client, 3.0) == [(3.0, TransactionTimeout(client_key(new), "C"))]
    # the old branch: C of 120 s from its 180
    assert _timeouts(client, 200.0) == [(121.0, TransactionTimeout(client_key(old), "C"))]


def _timeouts(layer: TransactionLayer, until: float) -> list[tuple[float, Any]]:
    """The Timer C timeouts ``layer`` reports up to ``until``, with their times (after C a
    branch waits fr_timer for the callee's 487: its B is not what this test is about)."""
    out = []
    while (when := layer.next_deadline()) is not None and when <= until:
        out += [(when, ev) for ev in of(layer.handle_timer(when), TransactionTimeout)]
    return [(when, ev) for when, ev in out if ev.timer == "C"]
