"""TcpGuard's bookkeeping without sockets (the behaviour against a real proxy is in
tests/chaos/test_tcp_limits.py)."""

from __future__ import annotations

import pytest

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

    @property
    def buffered(self) -> bool:
        return bool(self.framer.buffered)

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


@pytest.mark.chaos
def test_tls_handshake_that_never_comes_is_closed(start_proxy, tmp_path) -> None:
    """A client that opens the TLS port and never starts the handshake is a silent
    connection: closed after tcp_msg_data_timeout (asyncio's default would be 60 s)."""
    import shutil
    import socket

    from kamtool.proxy.config import Listen
    from tests.proxy.harness import low_free_port
    from tests.proxy.test_tls import make_cert
    from tests.support.require import unavailable

    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    crt, key = make_cert(tmp_path)
    port, tls_port = low_free_port(), low_free_port()
    start_proxy(
        listen=(Listen("udp", "127.0.0.1", port), Listen("tls", "127.0.0.1", tls_port)),
        tls_certificate=crt, tls_private_key=key, tcp_msg_data_timeout=1.0,
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as s:
        # closed by the proxy: asyncio's own 60 s handshake timeout would end in a
        # TimeoutError of this recv instead
        assert s.recv(16) == b""


@pytest.mark.chaos
def test_wss_silent_handshake_and_slow_upgrade_are_closed(start_proxy, tmp_path) -> None:
    """wss: a client that never starts TLS is closed after tcp_msg_data_timeout (not
    asyncio's 60 s); one that finishes TLS and then dribbles its HTTP upgrade, after
    tcp_msg_read_timeout."""
    import shutil
    import socket
    import ssl

    from kamtool.proxy.config import Listen
    from tests.chaos.test_ws_limits import UPGRADE
    from tests.proxy.harness import low_free_port
    from tests.proxy.test_tls import make_cert
    from tests.support.require import unavailable

    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    crt, key = make_cert(tmp_path)
    port, wss_port = low_free_port(), low_free_port()
    start_proxy(
        listen=(Listen("udp", "127.0.0.1", port), Listen("wss", "127.0.0.1", wss_port)),
        tls_certificate=crt, tls_private_key=key, tcp_msg_data_timeout=1.0,
        tcp_msg_read_timeout=1.0,
    )  # fmt: skip
    silent = socket.create_connection(("127.0.0.1", wss_port), timeout=10)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    slow = ctx.wrap_socket(socket.create_connection(("127.0.0.1", wss_port), timeout=10))
    slow.sendall(UPGRADE.split(b"Upgrade:")[0])
    closed = False
    for _ in range(40):  # a header line every 0.25 s, never the end, for at most 10 s
        try:
            slow.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed = True
            break
        slow.settimeout(0.25)
        try:
            if slow.recv(16) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
    assert closed, "a slow upgrade over TLS stayed open"
    # asyncio's own 60 s handshake timeout would end in a TimeoutError here instead
    assert silent.recv(16) == b""
    silent.close()
    slow.close()
