"""Kamailio's published Python KEMI example, unmodified, on ``kamtool serve --route``:
digest registration (SIPp, sipsak), calls through Record-Route, CANCEL, 404/484, the
scanner rule, the foreign-domain header and in-dialog 404, with real peers."""

from __future__ import annotations

import subprocess

import pytest

from tests.ksr.peers import Catcher, ask_authenticated
from tests.proxy import harness
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import UdpClient, explain, low_free_port, register, sipp_peer
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


@pytest.fixture
def proxy(start_proxy, debian_example):
    return start_proxy(route=debian_example)


@pytest.fixture
def client(proxy):
    c = UdpClient(proxy.port)
    yield c
    c.close()


def test_sipp_registers_with_digest(proxy):
    need("sipp")
    register(proxy.port, "1001", free_port())
    assert proxy.stat("sl:401_replies") == 1
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1001"))
    assert b.contact.startswith("sip:1001@127.0.0.1:")


def test_sipsak_registers_with_digest_and_nat_test_19_stores_its_source(proxy):
    """sipsak sends from another port than its Contact: nat_uac_test(19) of the script
    says NAT, so fix_nated_register stores the source and the bflags 6 and 7."""
    need("sipsak")
    lport = low_free_port()
    res = subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5999", "-l", str(lport),
         "-s", f"sip:1001@127.0.0.1:{proxy.port}", "-a", USERS["1001"]],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout.decode("latin-1")[-2000:]
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1001"))
    assert b.contact == "sip:1001@127.0.0.1:5999"
    # received: the port sipsak sent from (not the one it listens on)
    assert b.received.startswith("sip:127.0.0.1:") and b.received != f"sip:127.0.0.1:{lport}"
    assert b.cflags == 192
    bad = subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@127.0.0.1:5998", "-s",
         f"sip:1001@127.0.0.1:{proxy.port}", "-a", "wrong"],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode != 0


def test_call_through_record_route_with_407_and_bye(proxy):
    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with sipp_peer("uas_answer.xml", proxy.port, uas_port):
        res = harness.call(proxy.port)
        assert res.returncode == 0, explain(res)
    assert proxy.stat("sl:407_replies") == 1
    assert proxy.stat("core:rcv_requests_bye") == 1
    assert proxy.stat("core:rcv_requests_ack") == 2  # of the 407, and end to end
    assert proxy.stat("tmx:2xx_transactions") >= 2  # INVITE and BYE, relayed statefully


def test_cancel_before_answer(proxy):
    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with sipp_peer("uas_ring.xml", proxy.port, uas_port):
        res = harness.call(proxy.port, "uac_cancel.xml")
        assert res.returncode == 0, explain(res)
    assert proxy.stat("core:rcv_requests_cancel") == 1
    assert proxy.stat("tmx:4xx_transactions") == 1  # the 487


def test_scanner_user_agent_gets_the_scripts_200(proxy, client):
    resp = client.ask("OPTIONS", f"sip:1001@127.0.0.1:{proxy.port}",
                      headers=["User-Agent: friendly-scanner"])  # fmt: skip
    assert (resp.status, resp.reason) == (200, "Processed")


def test_options_keepalive(proxy, client):
    resp = client.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
    assert (resp.status, resp.reason) == (200, "Keepalive")


def test_unknown_local_user_404_and_no_user_484(proxy, client):
    resp = ask_authenticated(client, "MESSAGE", f"sip:1003@127.0.0.1:{proxy.port}")
    assert (resp.status, resp.reason) == (404, "Not Found")
    resp = ask_authenticated(client, "MESSAGE", f"sip:127.0.0.1:{proxy.port}")
    assert (resp.status, resp.reason) == (484, "Address Incomplete")


def test_unauthenticated_invite_is_challenged_and_wrong_from_is_not_relayed(proxy, client):
    resp = client.ask("INVITE", f"sip:1002@127.0.0.1:{proxy.port}")
    assert resp.status == 407 and "proxy-authenticate" in resp.headers
    # neither from nor to a local domain: not an open relay
    raw = client.request("MESSAGE", "sip:1002@127.0.0.9")
    client.send_raw(raw.replace(b"From: <sip:1001@127.0.0.1>", b"From: <sip:x@example.invalid>"))
    resp = client.recv()
    assert (resp.status, resp.reason) == (403, "Not relaying")


def test_foreign_domain_gets_the_scripts_header_and_record_route(proxy, client):
    """A request to a host that is not ours leaves with ``P-Hint: outbound`` (route
    SIPOUT); the "foreign" host is another loopback address."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    far = Catcher("127.0.0.2")
    try:
        uri = f"sip:2000@127.0.0.2:{far.port}"
        first = client.ask("MESSAGE", uri, call_id="out-1@x", cseq=1)
        assert first.status == 407
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        creds = answer_challenge(ch, cnonce="0a4f113b", method="MESSAGE", uri=uri, username="1001",
                                 password=USERS["1001"])  # fmt: skip
        client.send_raw(client.request("MESSAGE", uri, call_id="out-1@x", cseq=2,
                        headers=[f"Proxy-Authorization: {creds.to_header()}"]))  # fmt: skip
        out = far.recv()
        assert out.method == "MESSAGE" and out.headers.get("p-hint") == "outbound"
        assert "proxy-authorization" not in out.headers  # consume_credentials()
    finally:
        far.close()


def test_in_dialog_request_without_our_route_is_404_not_here(proxy, client):
    resp = client.ask("BYE", f"sip:1002@127.0.0.1:{proxy.port}",
                      to="<sip:1002@127.0.0.1>;tag=abc")  # fmt: skip
    assert (resp.status, resp.reason) == (404, "Not here")
