"""``KSR.tm.t_set_fr(fr_inv_ms, fr_ms)``: one transaction's own timers, in milliseconds
as Kamailio's tm (0 keeps the proxy's). A SIPp UAS that rings and never answers, a
callee that never replies, SIPp callers that must get the 408 within SIPp's 15 s; the
proxy's own timers are far longer, so only the script's values can end these calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ksr.conftest import SCRIPTS
from tests.proxy.conftest import need
from tests.proxy.harness import caller_args, explain, register, sipp, sipp_peer
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp

RELAY = "    if KSR.tm.t_relay() < 0:\n"


def with_timers(tmp_path: Path, fr_inv_ms: int, fr_ms: int) -> str:
    """scripts/policy.py calling ``t_set_fr`` just before its final ``t_relay()``."""
    text = (SCRIPTS / "policy.py").read_text()
    assert RELAY in text
    text = text.replace(RELAY, f"    KSR.tm.t_set_fr({fr_inv_ms}, {fr_ms})\n{RELAY}")
    path = tmp_path / "timers.py"
    path.write_text(text)
    return str(path)


def ring_until_408(proxy_port: int) -> None:
    """1001 calls 1002 (registered, ringing forever): the caller must get 408 and the
    callee the proxy's CANCEL (and its ACK of the 487), both within SIPp's timeout."""
    uas_port = free_port()
    register(proxy_port, "1002", uas_port)
    with (
        sipp_peer("uas_ring.xml", proxy_port, uas_port),
        sipp_peer("uac_timeout.xml", proxy_port, free_port(), **caller_args()),
    ):
        pass


def test_fr_inv_timer_of_the_script_cancels_the_ringing_callee(start_proxy, tmp_path):
    need("sipp")
    proxy = start_proxy(route=with_timers(tmp_path, 1500, 0), fr_inv_timer=120.0)
    ring_until_408(proxy.port)
    assert proxy.stat("tmx:4xx_transactions") == 1  # the 408 (the CANCEL's 200 is ours)


def test_zero_keeps_the_proxy_fr_inv_timer(start_proxy, tmp_path):
    need("sipp")
    proxy = start_proxy(route=with_timers(tmp_path, 0, 0), fr_inv_timer=1.5)
    ring_until_408(proxy.port)


def test_fr_timer_of_the_script_ends_a_silent_branch(start_proxy, tmp_path):
    need("sipp")
    proxy = start_proxy(route=with_timers(tmp_path, 0, 1000), fr_timer=60.0, t1=0.1)
    register(proxy.port, "1002", free_port())  # nobody listens there afterwards
    res = sipp("uac_timeout.xml", proxy.port, **caller_args())
    assert res.returncode == 0, explain(res)


def test_t_set_fr_in_a_reply_route_retimes_the_ringing_branch(start_proxy, tmp_path):
    """On the 180, the reply route shortens the ringing branch's fr_inv_timer: the
    branch already running (its Timer C started by that 180 with the proxy's 120 s)
    restarts with 1.5 s, as Kamailio's tm changes running branches on the fly."""
    need("sipp")
    text = (SCRIPTS / "policy.py").read_text()
    text = text.replace(RELAY, f'    KSR.tm.t_on_reply("ksr_onreply_ring")\n{RELAY}')
    text += (
        "\n\ndef ksr_onreply_ring():\n"
        "    if KSR.kx.get_status() == 180:\n"
        "        KSR.tm.t_set_fr(1500, 0)\n"
        "    return 1\n"
    )
    path = tmp_path / "ring.py"
    path.write_text(text)
    proxy = start_proxy(route=str(path), fr_inv_timer=120.0)
    ring_until_408(proxy.port)
    assert proxy.stat("tmx:4xx_transactions") == 1
