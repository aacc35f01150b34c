"""Chaos: many, idle, silent and slow WebSocket connections against ``kamtool serve``
with a ``ws:`` listener (issue #18): a WebSocket is a TCP connection, under the same
limits as SIP over TCP (kamtool/proxy/tcplimits.py), shrunk here so that each case stays
small and bounded. Raw sockets on loopback play the clients, so that each can stop
half-way: in its HTTP upgrade (slowloris on the handshake), in a frame, or in a
fragmented message."""

from __future__ import annotations

import contextlib
import os
import socket
import time

import pytest

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port

pytestmark = pytest.mark.chaos

LIMITS = """
tcp_max_connections = 40
tcp_accept_iplimit = 30
tcp_msg_read_timeout = 2
tcp_msg_data_timeout = 2
"""

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n\r\n"
)


def _frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """A client frame (masked, RFC 6455 section 5.3); payloads under 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + mask + body


PING = _frame(0x9)


def _connect(port: int, src: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
    return s


def _ws(port: int, src: str = "127.0.0.1") -> socket.socket:
    """A WebSocket after its upgrade (or a socket the proxy refused)."""
    s = _connect(port, src)
    with contextlib.suppress(OSError):
        s.sendall(UPGRADE)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert not answer or answer.startswith(b"HTTP/1.1 101"), answer
    return s


def _alive(s: socket.socket) -> bool:
    """A Ping answered with a Pong: the proxy keeps this WebSocket."""
    try:
        s.sendall(PING)
        return s.recv(16)[:1] == b"\x8a"
    except OSError:
        return False


def _closed_by_peer(s: socket.socket) -> bool:
    """The proxy closed it: end of stream, a reset, or a Close frame."""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return data == b"" or data[:1] == b"\x88"


def _stat(p: KamtoolProxy, group: str, name: str) -> int:
    got = p.rpc("stats.get_statistics", f"{group}:{name}")
    return int(got[0].split(" = ")[1])


def _warnings(p: KamtoolProxy, words: str) -> int:
    return sum(1 for line in p.log_text().splitlines() if words in line)


@pytest.fixture
def proxy(tmp_path):
    port = free_port()
    args = ("--no-pike", "--listen", f"ws:127.0.0.1:{port}")
    with KamtoolProxy(tmp_path, seed=False, proxy_toml=LIMITS, extra_args=args) as p:
        p.ws_port = port
        yield p


def test_ws_per_source_cap_shared_cap_and_idle_eviction(proxy):
    port = proxy.ws_port
    mine = [_ws(port) for _ in range(30)]
    assert all(_alive(s) for s in mine)
    refused = [_ws(port) for _ in range(3)]  # over tcp_accept_iplimit: reset, no upgrade
    assert not any(_alive(s) for s in refused)
    assert _warnings(proxy, "tcp_accept_iplimit") == 1
    # SIP over TCP and WebSockets share tcp_max_connections (40)
    tcp = [_connect(proxy.sip_port, "127.0.0.2") for _ in range(5)]
    other = [_ws(port, "127.0.0.3") for _ in range(5)]
    assert all(_alive(s) for s in other)
    assert _stat(proxy, "tcp", "current_opened_connections") == 40
    time.sleep(0.2)
    for s in mine[1:] + other:
        assert _alive(s)  # everyone but mine[0] (and the quiet TCP ones) was active just now
    for s in tcp:
        s.sendall(b"\r\n\r\n")
        assert s.recv(16) == b"\r\n"
    newcomer = _ws(port, "127.0.0.4")
    assert _alive(newcomer)  # got the place of the WebSocket idle the longest
    assert _closed_by_peer(mine[0])
    assert _stat(proxy, "tcp", "evicted_idle") == 1
    assert _stat(proxy, "tcp", "local_reject") >= 3
    assert len(proxy.rpc("ws.dump", "id_hash")["connections"]) == 35
    for s in mine + refused + tcp + other + [newcomer]:
        s.close()


def test_slow_handshakes_frames_messages_and_silent_connections_are_closed(proxy):
    port = proxy.ws_port
    handshakes = [_connect(port) for _ in range(4)]  # slowloris on the HTTP upgrade
    for s in handshakes:
        s.sendall(UPGRADE.split(b"Upgrade:")[0])
    silent = [_connect(port, "127.0.0.2") for _ in range(4)]  # connect, then nothing
    frames = [_ws(port, "127.0.0.3") for _ in range(3)]  # a frame that never completes
    text = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
    rest = {}
    for s in frames:
        whole = _frame(0x1, text.ljust(120, b"a"))
        s.sendall(whole[:8])  # header, mask and two bytes of the payload
        rest[s] = whole[8:-1]  # the frame's next bytes, all but its last
    fragments = [_ws(port, "127.0.0.4") for _ in range(3)]  # a message never finished
    for s in fragments:
        s.sendall(_frame(0x1, text, fin=False))
    keeper = _ws(port, "127.0.0.5")
    slow = handshakes + silent + frames + fragments
    deadline = time.monotonic() + 15
    closed: set[int] = set()
    while time.monotonic() < deadline and len(closed) < len(slow):
        for i, s in enumerate(slow):
            if i in closed or s in silent:
                continue
            with contextlib.suppress(OSError):
                if s in handshakes:
                    s.sendall(b"X-Slow: 1\r\n")  # a header line now and then, never the end
                elif s in frames:
                    s.sendall(rest[s][:1])  # one more byte of the payload
                    rest[s] = rest[s][1:]
                else:
                    s.sendall(PING)  # Pings go on; the message stays unfinished
        assert _alive(keeper)  # a client that finishes what it sends stays
        for i, s in enumerate(slow):
            s.settimeout(0.05)
            while i not in closed:
                try:
                    data = s.recv(4096)
                except TimeoutError:
                    break
                except ConnectionResetError:
                    data = b""
                if data == b"" or b"\x88" in data[:1]:
                    closed.add(i)
        time.sleep(0.5)
    assert len(closed) == len(slow), f"still open: {sorted(set(range(len(slow))) - closed)}"
    assert _stat(proxy, "tcp", "con_timeout") >= len(slow)
    assert _warnings(proxy, "tcp_msg_read_timeout") == 1
    assert _warnings(proxy, "tcp_msg_data_timeout") == 1
    fresh = _ws(port, "127.0.0.6")
    assert _alive(fresh)
    for s in [*slow, keeper, fresh]:
        s.close()
