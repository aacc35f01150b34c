"""Chaos: clients that open the TLS or WSS port and never finish a handshake count against
the TCP limits from the moment they connect (kamtool/proxy/tls_accept.py).

Before, asyncio only showed a TLS connection to the limits once its handshake was over:
400 clients that never sent a ClientHello held 400 descriptors for the handshake
timeout, past ``tcp_accept_iplimit`` and ``tcp_max_connections``, and under a low
descriptor limit the JSON-RPC port and honest clients found none.
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import time

import pytest

from tests.chaos.test_tcp_limits import _closed_by_peer, _connect, _stat, _warnings
from tests.proxy.harness import wait_for
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import low_free_port
from tests.support.require import unavailable

pytestmark = pytest.mark.chaos

OPTIONS = (
    "OPTIONS sip:127.0.0.1:{port};transport=tls SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 127.0.0.1:{lport};branch=z9hG4bKtls{lport}\r\n"
    "From: <sip:probe@127.0.0.1>;tag=t{lport}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
    "Call-ID: tls-{lport}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def _cert(d) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    from tests.proxy.test_tls import make_cert

    return make_cert(d)


def _tls_proxy(tmp_path, proto: str, limits: str, wrapper: tuple[str, ...] = ()) -> KamtoolProxy:
    crt, key = _cert(tmp_path)
    port = low_free_port()
    p = KamtoolProxy(
        tmp_path, seed=False, wrapper=wrapper,
        proxy_toml=f"{limits}\ntls_certificate = {crt!r}\ntls_private_key = {key!r}\n",
        extra_args=("--no-pike", "--listen", f"{proto}:127.0.0.1:{port}"),
    )  # fmt: skip
    p.tls_port = port  # type: ignore[attr-defined]
    return p


def _tls_options(port: int, src: str) -> str:
    """The status line of an OPTIONS over a completed TLS handshake from ``src``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with contextlib.closing(_connect(port, src)) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(OPTIONS.format(port=port, lport=s.getsockname()[1]).encode())
        return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def _ws_upgrade_status(port: int, src: str) -> str:
    """The HTTP status line a wss upgrade from ``src`` gets after its handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with contextlib.closing(_connect(port, src)) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
        )
        return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def _served(proto: str, port: int, src: str) -> bool:
    if proto == "tls":
        return _tls_options(port, src) == "SIP/2.0 200 Keepalive"
    return _ws_upgrade_status(port, src).startswith("HTTP/1.1 101")


@pytest.mark.parametrize("proto", ["tls", "wss"])
def test_handshakes_count_against_the_per_source_cap(tmp_path, proto):
    limits = ("tcp_max_connections = 40\ntcp_accept_iplimit = 30\n"
              "tcp_msg_data_timeout = 15\n")  # fmt: skip
    with _tls_proxy(tmp_path, proto, limits) as p:
        port = p.tls_port
        silent = [_connect(port) for _ in range(30)]  # no ClientHello, ever
        over = [_connect(port) for _ in range(5)]
        for s in over:  # reset at once, not held until the 15 s handshake timeout
            s.settimeout(5)
            assert _closed_by_peer(s)
        for s in silent:
            s.settimeout(0.05)
            assert not _closed_by_peer(s)
        assert _stat(p, "local_reject") >= 5
        assert _stat(p, "current_opened_connections") >= 30
        assert _warnings(p, "tcp_accept_iplimit") == 1
        assert _served(proto, port, "127.0.0.2")  # another source still gets in
        for s in silent + over:
            s.close()
        # the abandoned handshakes leave the count
        assert wait_for(lambda: _stat(p, "current_opened_connections") <= 1, 10)
        assert _served(proto, port, "127.0.0.1")


@pytest.mark.slow
def test_fd_limit_holds_under_a_handshake_flood(tmp_path):
    """Under ``ulimit -n 256``, 400 connections to the TLS port that never handshake:
    the cap follows the descriptors, and JSON-RPC and a real TLS client keep working."""
    wrapper = ("prlimit", "--nofile=256:256", "--")
    with _tls_proxy(tmp_path, "tls", "", wrapper) as p:
        conns = []
        for i in range(400):
            with contextlib.suppress(OSError):
                conns.append(_connect(p.tls_port, f"127.0.0.{1 + i % 4}"))
        time.sleep(0.5)
        assert p.rpc("core.version")
        assert _tls_options(p.tls_port, "127.0.0.9") == "SIP/2.0 200 Keepalive"
        opened = _stat(p, "current_opened_connections")
        assert 0 < opened <= 256 - 128
        assert _stat(p, "evicted_idle") + _stat(p, "local_reject") >= 400 - opened
        assert "Too many open files" not in p.log_text()
        for s in conns:
            s.close()


def test_failed_handshakes_are_logged_with_their_cause_but_not_each(tmp_path):
    """An operator sees why a client's handshake failed (OpenSSL's reason), once; a burst
    of such clients is counted in the next report, not logged one by one."""
    with _tls_proxy(tmp_path, "tls", "") as p:
        for _ in range(5):  # plain SIP on the TLS port
            with contextlib.closing(_connect(p.tls_port)) as s:
                s.sendall(OPTIONS.format(port=p.tls_port, lport=s.getsockname()[1]).encode())
                s.settimeout(5)
                assert _closed_by_peer(s)
        lines = [ln for ln in p.log_text().splitlines() if "TLS: handshake with" in ln]
        assert len(lines) == 1, lines
        assert "failed: wrong version number" in lines[0] or "failed: http request" in lines[0]
        assert _tls_options(p.tls_port, "127.0.0.2") == "SIP/2.0 200 Keepalive"
