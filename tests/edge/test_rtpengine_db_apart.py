"""RTPEngine's ng requests and the database do not wait for each other (issue #18): the
ng exchange of a request route runs on the event loop (kamtool/proxy/ksr/context.py
``wait_async``), no longer on the database worker.

``kamtool serve`` runs a route script (tests/edge/scripts/rtp_db_route.py) with
write-through usrloc on SQLite. A slow database is the SQLite file locked by the test
(``BEGIN EXCLUSIVE``: the proxy's write waits out its busy timeout); a slow RTPEngine is
a UDP socket that never answers. Each test asserts an order of events, not a duration."""

from __future__ import annotations

import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.edge.sdp import SDP
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable
from tests.support.rtpengine_daemon import RtpEngineDaemon, rtpengine_available

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent / "scripts" / "rtp_db_route.py"


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(20)
    return s


def _register(sock: socket.socket, port: int) -> bytes:
    lport = sock.getsockname()[1]
    return (
        f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-reg{lport};rport\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=r{lport}\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: reg-{lport}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:1001@127.0.0.1:{lport}>;expires=300\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _invite(sock: socket.socket, callee: int) -> bytes:
    lport = sock.getsockname()[1]
    body = SDP.format(port=49170)
    return (
        f"INVITE sip:bob@127.0.0.1:{callee} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-inv{lport};rport\r\n"
        f"From: <sip:alice@127.0.0.1>;tag=a{lport}\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: inv-{lport}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:alice@127.0.0.1:{lport}>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def _final(sock: socket.socket) -> str:
    """The next message on ``sock`` that is not a 1xx."""
    while True:
        text = sock.recv(65535).decode()
        if not text.startswith("SIP/2.0 1"):
            return text


def _final_pending(sock: socket.socket) -> bool:
    """Whether a final answer is waiting on ``sock`` now (read without waiting; a 100
    Trying does not count)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # (with a timeout set, Python polls before any recv)
    try:
        while True:
            try:
                text = sock.recv(65535).decode()
            except BlockingIOError:
                return False
            if not text.startswith("SIP/2.0 1"):
                return True
    finally:
        sock.settimeout(timeout)


def _proxy(tmp_path: Path, rtpengine: str) -> KamtoolProxy:
    return KamtoolProxy(
        tmp_path, seed=False, extra_args=("--route", str(SCRIPT), "--db-mode", "1"),
        proxy_toml=f'rtpengine = "{rtpengine}"\n',
    )  # fmt: skip


def test_a_slow_database_does_not_delay_an_offer(tmp_path):
    if not rtpengine_available():
        unavailable("rtpengine-daemon is not installed")
    with RtpEngineDaemon(tmp_path) as daemon, _proxy(tmp_path, daemon.url) as proxy, \
            closing(_udp()) as phone, closing(_udp()) as caller, \
            closing(_udp()) as callee:  # fmt: skip
        lock = sqlite3.connect(proxy.db_file, timeout=10, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")  # the proxy's next write waits (busy timeout)
            phone.sendto(_register(phone, proxy.sip_port), ("127.0.0.1", proxy.sip_port))
            caller.sendto(_invite(caller, callee.getsockname()[1]),
                          ("127.0.0.1", proxy.sip_port))  # fmt: skip
            relayed = callee.recv(65535).decode()
            # the REGISTER is still waiting for the database when the INVITE, its SDP
            # rewritten by RTPEngine, reaches the callee
            assert not _final_pending(phone)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert relayed.startswith("INVITE sip:bob@"), relayed
        assert "m=audio 49170 " not in relayed and "c=IN IP4 127.0.0.1" in relayed, relayed
        assert _final(phone).startswith("SIP/2.0 200"), "the REGISTER, once the lock is gone"


def test_a_silent_rtpengine_does_not_delay_the_database(tmp_path):
    with closing(_udp()) as silent:  # an RTPEngine that never answers
        rtpengine = f"udp:127.0.0.1:{silent.getsockname()[1]}"
        with _proxy(tmp_path, rtpengine) as proxy, closing(_udp()) as phone, \
                closing(_udp()) as caller:  # fmt: skip
            caller.sendto(_invite(caller, free_port()), ("127.0.0.1", proxy.sip_port))
            silent.recv(65535)  # the offer has gone out; no answer will come
            phone.sendto(_register(phone, proxy.sip_port), ("127.0.0.1", proxy.sip_port))
            assert _final(phone).startswith("SIP/2.0 200")
            # the REGISTER was saved while the offer still waited for RTPEngine
            assert not _final_pending(caller)
            assert _final(caller).startswith("SIP/2.0 503"), "after the retransmissions"
