"""A real browser (headless Chromium running SIP.js) against the WebSocket transport."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading

import pytest

from kamtool.proxy.ws import WsPolicy, WsRegistry, serve_ws
from kamtool.sip.errors import ParseError
from kamtool.sip.message import make_response
from tests.support.browser import Browser, PageServer
from tests.support.require import unavailable

pytestmark = pytest.mark.slow


class Registrar:
    """A WebSocket SIP endpoint on its own event loop thread that accepts every REGISTER
    (200 with the Contact echoed) and keeps what it received."""

    def __init__(self, policy: WsPolicy, ssl_context: ssl.SSLContext | None) -> None:
        self.received: list = []
        self.registry = WsRegistry()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            serve_ws("127.0.0.1", 0, self._sink, policy=policy, registry=self.registry,
                     ssl_context=ssl_context),
            self.loop,
        ).result(10)  # fmt: skip
        self.port = self.server.sockets[0].getsockname()[1]

    def _sink(self, msg, conn, addr) -> None:
        self.received.append((msg, conn.origin))
        if isinstance(msg, ParseError) or not msg.is_request:
            return
        headers = []
        if msg.method == "REGISTER":
            headers = [("Contact", f"{c};expires=300") for c in msg.headers.get_all("Contact")]
        if msg.method != "ACK":
            conn.send(make_response(msg, 200, to_tag="edge", headers=headers).to_bytes())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    d = tmp_path_factory.mktemp("wss")
    crt, key = d / "c.pem", d / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


@pytest.fixture
def pages():
    server = PageServer()
    yield server
    server.close()


def _run(pages, registrar, scheme: str):
    browser = Browser(
        pages.url("register.html", aor="sip:1001@127.0.0.1",
                  ws=f"{scheme}://127.0.0.1:{registrar.port}")
    )  # fmt: skip
    return browser


@pytest.mark.parametrize("secure", [True, False], ids=["wss", "ws"])
def test_sipjs_registers_over_websocket(pages, tls_context, secure):
    registrar = Registrar(WsPolicy(origins=(pages.origin,)), tls_context if secure else None)
    browser = _run(pages, registrar, "wss" if secure else "ws")
    try:
        seen = pages.wait_for("registration:Registered", timeout=60)
        assert "connected" in seen
        msgs = [m for m, _ in registrar.received if not isinstance(m, ParseError)]
        register = next(m for m in msgs if m.method == "REGISTER")
        assert register.top_via.transport == ("WSS" if secure else "WS")
        assert str(register.contacts[0].uri).endswith(";transport=ws")
        assert {origin for _, origin in registrar.received} == {pages.origin}
        [row] = registrar.registry.dump()
        assert row["proto"] == ("wss" if secure else "ws") and row["origin"] == pages.origin
    except AssertionError:
        print(browser.output()[-3000:])
        raise
    finally:
        browser.close()
        registrar.close()


def test_a_page_from_another_origin_is_refused(pages):
    registrar = Registrar(WsPolicy(origins=("https://phone.example.test",)), None)
    browser = _run(pages, registrar, "ws")
    try:
        with pytest.raises(AssertionError, match="did not report"):
            pages.wait_for("connected", timeout=8)
        assert registrar.received == [] and registrar.registry.dump() == []
        assert registrar.registry.stats["ws_failed_handshakes"] >= 1
    finally:
        browser.close()
        registrar.close()
