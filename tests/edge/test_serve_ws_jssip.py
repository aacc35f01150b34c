"""A JsSIP phone in headless Chromium (JsSIP is the other SIP stack browser phones are
built on, with its own Via, Contact and outbound habits) against ``kamtool serve``'s wss:
listener: it registers, calls a SIPp phone on UDP and is called by one."""

from __future__ import annotations

import pytest

from tests.edge.test_serve_ws import UAC, UAS, _edge, cert  # noqa: F401  (fixture)
from tests.ksr.outside import sipp, sipp_uas
from tests.support.browser import Browser, PageServer, need_jssip
from tests.support.ports import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def pages():
    need_jssip()
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def edge(tmp_path, cert, pages):  # noqa: F811
    proxy = _edge(tmp_path, cert, pages)
    yield proxy
    proxy.stop()


def _phone(edge, pages, **more: str) -> Browser:
    return Browser(
        pages.url("jssip.html", aor="sip:1001@127.0.0.1", user="1001", password="secret1001",
                  ws=f"wss://127.0.0.1:{edge.wss_port}", **more)
    )  # fmt: skip


def _contacts(edge) -> list[dict]:
    return [
        c["Contact"]
        for aor in edge.rpc("ul.dump")["Domains"][0]["Domain"]["AoRs"]
        for c in aor["Info"]["Contacts"]
    ]


def test_jssip_registers_over_wss_and_calls_a_udp_phone(edge, pages):
    with sipp_uas(edge.sip_port, str(UAS), "1002", 1) as uas:
        browser = _phone(edge, pages, call="sip:1002@127.0.0.1")
        try:
            seen = pages.wait_for("registration:Registered", timeout=60)
            assert "connected" in seen
            [row] = [c for c in _contacts(edge) if "transport=ws" in c["Address"]]
            assert row["Socket"] == f"wss:127.0.0.1:{edge.wss_port}", row
            seen = pages.wait_for("bye:", timeout=60)
            assert "answered:200" in seen and "session:Established" in seen, seen
            out, _ = uas.communicate(timeout=30)  # the UAS got the BYE and answered it
            assert uas.returncode == 0, out
        except AssertionError:
            print(browser.output()[-3000:])
            print(edge.log_text()[-5000:])
            raise
        finally:
            browser.close()


def test_a_udp_phone_calls_jssip_over_its_wss_connection(edge, pages):
    browser = _phone(edge, pages)
    try:
        pages.wait_for("registration:Registered", timeout=60)
        caller = ("-set", "caller", "1002", "-au", "1002", "-ap", "secret1002", "-d", "500")
        res = sipp(edge.sip_port, str(UAC), free_port(), "-m", "1", "-s", "1001", *caller)
        assert res.returncode == 0, res.stdout + res.stderr
        seen = pages.wait_for("session:Terminated", timeout=30)
        assert "incoming:1002" in seen and "session:Established" in seen, seen
        assert seen[-1] == "session:Terminated:Terminated", seen  # ended by the caller's BYE
    except AssertionError:
        print(browser.output()[-3000:])
        print(edge.log_text()[-5000:])
        raise
    finally:
        browser.close()
