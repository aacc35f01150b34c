"""TcpGuard's bookkeeping without sockets (the behaviour against a real proxy is in
tests/chaos/test_tcp_limits.py)."""

from __future__ import annotations

from kamtool.proxy.stats import Statistics
from kamtool.proxy.tcplimits import TcpGuard
from kamtool.sip.parser import StreamFramer


class Conn:
    def __init__(self, ip: str, now: float, outbound: bool = False) -> None:
        self.peer = (ip, 5060)
        self.outbound = outbound
        self.got_data = False
        self.partial_since = None
        self.last_active = now
        self.framer = StreamFramer()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_caps_eviction_and_counters() -> None:
    now = [100.0]
    stats = Statistics()
    g = TcpGuard(max_connections=3, per_source=2, stats=stats, clock=lambda: now[0])
    a, b = Conn("10.0.0.1", 1), Conn("10.0.0.1", 2)
    assert g.admit(a) and g.admit(b)
    assert not g.admit(Conn("10.0.0.1", 3))  # per source
    c = Conn("10.0.0.2", 3)
    assert g.admit(c)
    a.partial_since = 50.0  # a message in progress: never evicted
    d = Conn("10.0.0.3", 4)
    assert g.admit(d) and b.closed and not a.closed  # b: the oldest idle one
    assert stats.value("tcp", "evicted_idle") == 1 and stats.value("tcp", "local_reject") == 1
    assert stats.value("tcp", "current_opened_connections") == 3
    assert g.by_source == {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1}
    for conn in (c, d):
        conn.partial_since = 60.0
    assert not g.admit(Conn("10.0.0.4", 5))  # full and nobody idle
    out = Conn("10.0.0.9", 6, outbound=True)
    g.track(out)  # ours: counted, never refused, not per source
    assert len(g.conns) == 4 and "10.0.0.9" not in g.by_source
    g.forget(a)
    g.forget(a)  # twice is harmless
    assert g.by_source.get("10.0.0.1") is None


def test_message_clock_restarts_with_each_completed_message() -> None:
    now = [10.0]
    g = TcpGuard(clock=lambda: now[0])
    conn = Conn("10.0.0.1", 0)
    conn.framer.feed(b"OPTIONS sip:a SIP/2.0\r\n")
    g.received(conn, 0)
    assert conn.got_data and conn.partial_since == 10.0
    now[0] = 15.0
    g.received(conn, 0)  # more of the same message: the clock keeps running
    assert conn.partial_since == 10.0
    g.received(conn, 1)  # one completed, the next begun: a new clock
    assert conn.partial_since == 15.0
    conn.framer = StreamFramer()
    g.received(conn, 1)  # nothing buffered: no message in progress
    assert conn.partial_since is None
