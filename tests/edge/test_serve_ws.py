"""``kamtool serve`` with ws:/wss: listeners (issue #18): a real browser (headless
Chromium running SIP.js) registers over secure WebSocket and calls a SIPp phone that
registered over UDP, through the proxy's default route."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ksr.outside import sipp, sipp_uas
from tests.support.browser import Browser, PageServer, need_sipjs
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable
from tests.support.rtpengine_daemon import RtpEngineDaemon

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
UAS, UAC = HERE / "webrtc_uas.xml", HERE / "webrtc_uac.xml"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
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
    return crt, key


@pytest.fixture
def pages():
    need_sipjs()
    server = PageServer()
    yield server
    server.close()


def _edge(tmp_path, cert, pages, more: str = "") -> KamtoolProxy:
    """kamtool serve with a wss: listener that admits the test page's Origin only."""
    crt, key = cert
    wss = free_port()
    proxy = KamtoolProxy(
        tmp_path,
        extra_args=("--listen", f"wss:127.0.0.1:{wss}"),
        proxy_toml=f'tls_certificate = "{crt}"\ntls_private_key = "{key}"\n'
        f'ws_origins = "{pages.origin}"\n{more}',
    ).start()
    proxy.wss_port = wss
    return proxy


@pytest.fixture
def edge(tmp_path, cert, pages):
    proxy = _edge(tmp_path, cert, pages)
    yield proxy
    proxy.stop()


@pytest.fixture
def media_edge(tmp_path, cert, pages):
    """The edge with an RTPEngine (rtpengine-daemon) for the media."""
    with RtpEngineDaemon(tmp_path) as daemon:
        proxy = _edge(tmp_path, cert, pages, f'rtpengine = "{daemon.url}"')
        proxy.daemon = daemon
        yield proxy
        proxy.stop()


def test_browser_registers_over_wss_and_calls_a_udp_phone(edge, pages):
    with sipp_uas(edge.sip_port, str(UAS), "1002", 1) as uas:
        browser = Browser(
            pages.url("call.html", aor="sip:1001@127.0.0.1", user="1001", password="secret1001",
                      ws=f"wss://127.0.0.1:{edge.wss_port}", call="sip:1002@127.0.0.1")
        )  # fmt: skip
        try:
            seen = pages.wait_for("registration:Registered", timeout=60)
            assert "connected" in seen
            contacts = {
                c["Contact"]["Address"]: c["Contact"]
                for aor in edge.rpc("ul.dump")["Domains"][0]["Domain"]["AoRs"]
                for c in aor["Info"]["Contacts"]
            }
            [(addr, row)] = [(a, c) for a, c in contacts.items() if "transport=ws" in a]
            assert row["Socket"] == f"wss:127.0.0.1:{edge.wss_port}", row
            assert row["Received"].endswith(";transport=wss"), row
            [conn] = edge.rpc("ws.dump")["connections"]
            assert f"-> wss:127.0.0.1:{edge.wss_port} (state: OPEN" in conn, conn
            seen = pages.wait_for("bye:", timeout=60)
            assert "answered:200" in seen and seen[-1] == "bye:200", seen
            out, _ = uas.communicate(timeout=30)
            assert uas.returncode == 0, out
            stats = edge.rpc("stats.get_statistics", "websocket:")
            assert "websocket:ws_successful_handshakes = 1" in stats, stats
        except AssertionError:
            print(browser.output()[-3000:])
            print(edge.log_text()[-5000:])
            raise
        finally:
            browser.close()


def test_a_udp_phone_calls_the_browser_over_its_wss_connection(edge, pages):
    browser = Browser(
        pages.url("call.html", aor="sip:1001@127.0.0.1", user="1001", password="secret1001",
                  ws=f"wss://127.0.0.1:{edge.wss_port}")
    )  # fmt: skip
    try:
        pages.wait_for("registration:Registered", timeout=60)
        res = sipp(edge.sip_port, str(UAC), free_port(), "-m", "1", "-s", "1001",
                   "-set", "caller", "1002", "-au", "1002", "-ap", "secret1002", "-d", "500")
        assert res.returncode == 0, res.stdout + res.stderr
        seen = pages.wait_for("session:Terminated", timeout=30)
        assert "incoming:1002" in seen and "session:Established" in seen, seen
    except AssertionError:
        print(edge.log_text()[-5000:])
        raise
    finally:
        browser.close()


def test_browser_and_plain_rtp_phone_call_each_other_through_rtpengine(media_edge, pages):
    """The phone's SDP is plain RTP/AVP (tests/sipp's scenarios): the browser reaches
    Established only as RTPEngine rewrote it (ICE, DTLS-SRTP; without RTPEngine the
    browser refuses the answer), and the phone gets plain RTP back."""
    browser = Browser(
        pages.url("call.html", aor="sip:1001@127.0.0.1", user="1001", password="secret1001",
                  ws=f"wss://127.0.0.1:{media_edge.wss_port}", call="sip:1002@127.0.0.1")
    )  # fmt: skip
    try:
        with sipp_uas(media_edge.sip_port, "uas_answer.xml", "1002", 1) as uas:
            seen = pages.wait_for("bye:", timeout=60)
            assert "answered:200" in seen and seen[-1] == "bye:200", seen
            out, _ = uas.communicate(timeout=30)
            assert uas.returncode == 0, out
        res = sipp(media_edge.sip_port, "uac_call.xml", free_port(), "-m", "1", "-s", "1001",
                   "-set", "caller", "1002", "-au", "1002", "-ap", "secret1002", "-d", "500")
        assert res.returncode == 0, res.stdout + res.stderr
        seen = pages.wait_for("session:Terminated", timeout=30)
        assert "incoming:1002" in seen and "session:Established" in seen, seen
        assert "Unknown call-id" not in media_edge.daemon.log()  # offer before answer
    except AssertionError:
        print(browser.output()[-2000:])
        print(media_edge.log_text()[-4000:])
        raise
    finally:
        browser.close()
