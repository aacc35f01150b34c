"""tm over the sans-IO transaction layer, in memory: the router fed datagrams, its sends
captured, its one timer heap run on a real event loop with shrunk timers."""

from __future__ import annotations

import asyncio

import pytest

from kamtool.proxy.auth import Authenticator
from kamtool.proxy.config import Listen, ProxyConfig
from kamtool.proxy.stats import Statistics
from kamtool.proxy.timers import TimerHeap
from kamtool.proxy.usrloc import LocationStore
from kamtool.proxy.wiring import build_proxy
from kamtool.sip.parser import parse_message

PROXY = Listen("udp", "127.0.0.1", 5060)
CALLER = ("127.0.0.2", 5070)
CALLEE = ("127.0.0.1", 5999)


class Net:
    """Both sides of the proxy: what it answers the caller, what it sends downstream."""

    proto = "udp"
    listen = PROXY
    connections: dict = {}

    def __init__(self) -> None:
        self.up: list = []  # parsed replies to the caller
        self.down: list = []  # parsed messages to the callee

    def send(self, *args):  # endpoint.send(data, addr) and transports.send(proto, addr, data)
        if len(args) == 2:
            self.up.append(parse_message(args[0]))
            return None
        self.down.append(parse_message(args[2]))
        return True

    def endpoint_for(self, proto: str) -> Listen:
        return PROXY

    def socket_for(self, proto: str, host: str, port: int) -> Listen:  # one socket only
        return PROXY

    def listen_named(self, socket_str: str | None) -> Listen | None:
        return PROXY if socket_str == PROXY.socket_str else None

    def force(self, dest: tuple, listen: Listen) -> None:
        pass


@pytest.fixture
def net():
    loop = asyncio.new_event_loop()
    cfg = ProxyConfig(
        listen=(PROXY,), rpc_listen=None, auth=False, fr_timer=0.3, fr_inv_timer=0.8, t1=0.05
    )
    n = Net()
    router = build_proxy(
        cfg,
        timers=TimerHeap(loop),
        usrloc=LocationStore(db_mode=0),
        auth=Authenticator(None, lookup=lambda u, d: None),
        stats=Statistics(),
        transports=n,
    )
    n.router, n.loop = router, loop
    register = (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-r\r\n"
        "From: <sip:1001@127.0.0.1>;tag=r\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r@x\r\n"
        "CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5999>\r\nExpires: 60\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    router.receive(register.encode(), n, CALLEE)
    assert n.up.pop().status == 200
    yield n
    loop.close()


def invite(method: str = "INVITE") -> bytes:
    return (
        f"{method} sip:1001@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-call;rport\r\n"
        "From: <sip:caller@127.0.0.2>;tag=c\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: call@x\r\nCSeq: 1 {method}\r\nContact: <sip:caller@127.0.0.2:5070>\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def answer(request, status: int) -> bytes:
    h = "".join(f"Via: {v}\r\n" for v in request.vias)
    return (
        f"SIP/2.0 {status} X\r\n{h}From: {request.from_}\r\nTo: {request.to};tag=callee\r\n"
        f"Call-ID: {request.call_id}\r\nCSeq: {request.cseq.num} {request.cseq.method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def statuses(replies) -> list[int]:
    """Reply statuses, a final retransmitted until its ACK (timer G) counted once."""
    out: list[int] = []
    for m in replies:
        if not out or m.status != out[-1]:
            out.append(m.status)
    return out


def wait(net: Net, seconds: float) -> None:
    net.loop.run_until_complete(asyncio.sleep(seconds))


def test_cancel_is_held_until_the_branch_rings_and_retransmitted_until_answered(net):
    r = net.router
    r.receive(invite(), net, CALLER)
    assert [m.status for m in net.up] == [100]
    (branch,) = net.down
    r.receive(invite("CANCEL"), net, CALLER)
    assert net.up[-1].status == 200 and net.up[-1].cseq.method == "CANCEL"
    assert [m.method for m in net.down] == ["INVITE"]  # no CANCEL before a provisional (9.1)
    r.receive(answer(branch, 180), net, CALLEE)
    assert net.down[-1].method == "CANCEL" and net.down[-1].top_via.branch == branch.top_via.branch
    wait(net, 0.12)  # no 200 to the CANCEL yet: the transaction layer sends it again (timer E)
    cancels = [m for m in net.down if m.method == "CANCEL"]
    assert len(cancels) >= 2
    r.receive(answer(cancels[0], 200), net, CALLEE)
    r.receive(answer(branch, 487), net, CALLEE)
    assert net.down[-1].method == "ACK"  # hop-by-hop ACK of the 487
    assert statuses(net.up) == [100, 200, 180, 487]  # 200 for the CANCEL; 180 still relayed
    r.receive(answer(branch, 487), net, CALLEE)  # retransmitted: ACKed again, not relayed
    assert net.down[-1].method == "ACK" and len(net.up) == 4
    assert r.parts.tm.in_flight() == 0


def test_silent_branch_gets_408_and_a_late_final_is_still_acked(net):
    r = net.router
    r.receive(invite(), net, CALLER)
    (branch,) = net.down
    wait(net, 0.45)  # fr_timer 0.3 s without a provisional
    assert statuses(net.up) == [100, 408]
    assert {m.method for m in net.down} == {"INVITE"}  # retransmitted, never cancelled
    assert len(net.down) > 1
    r.receive(answer(branch, 486), net, CALLEE)
    assert net.down[-1].method == "ACK" and statuses(net.up) == [100, 408]
    r.receive(
        invite("ACK").replace(b"To: <sip:1001@127.0.0.1>", b"To: <sip:1001@127.0.0.1>;tag=x"),
        net,
        CALLER,
    )
    assert r.parts.stats.value("sl", "received_ACKs") == 1  # the ACK of our 408 ends it here
    sent = len(net.up)
    wait(net, 0.2)
    assert len(net.up) == sent  # no more 408 retransmissions after the ACK


def test_ringing_branch_is_cancelled_after_fr_inv_timer(net):
    r = net.router
    r.receive(invite(), net, CALLER)
    (branch,) = net.down
    r.receive(answer(branch, 180), net, CALLEE)
    wait(net, 0.5)
    r.receive(answer(branch, 183), net, CALLEE)  # each provisional restarts fr_inv_timer
    wait(net, 0.5)
    assert "CANCEL" not in [m.method for m in net.down]
    wait(net, 0.5)
    assert net.down[-1].method == "CANCEL"
    assert statuses(net.up) == [100, 180, 183, 408]
