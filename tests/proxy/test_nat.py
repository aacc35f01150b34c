"""NAT traversal with real SIPp peers on loopback whose Via and Contact name a private
address (192.168.x.y:5060) while they send from 127.0.0.1:<port>: detection, rport,
received, alias routing both ways, keepalive OPTIONS, and the switch that turns it off."""

from __future__ import annotations

import socket

import pytest

from tests.proxy.conftest import USERS, need
from tests.proxy.harness import (
    UdpClient,
    call,
    caller_args,
    explain,
    sipp,
    sipp_peer,
    wait_for,
)
from tests.proxy.test_call import rpc
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp

NAT_HOST = "192.168.77.10"  # what the phones believe their address is
CALLER_NAT_HOST = "192.168.77.20"


def register_nated(proxy, user: str, local_port: int, **kw):
    res = sipp(
        "register_nat.xml",
        proxy.port,
        local_port,
        service=user,
        auth=(user, USERS[user]),
        variables={"expires": "600", "nat_host": NAT_HOST},
        **kw,
    )
    assert res.returncode == 0, explain(res)  # the 401 and 200 came back to the source port


def test_nated_register_stores_received_and_a_call_reaches_the_phone(start_proxy, tmp_path):
    need("sipp")
    rpc_port = free_port()
    proxy = start_proxy(
        rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"), db_mode=1
    )
    uas_port = free_port()
    register_nated(proxy, "1002", uas_port)
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1002"))
    assert b.contact == f"sip:1002@{NAT_HOST}:5060"
    # fix_nated_register: sip:<source ip>:<source port>; UDP has no transport parameter
    assert b.received == f"sip:127.0.0.1:{uas_port}"
    assert b.cflags == 64 | 128  # FLB_NATB and FLB_NATSIPPING, as the stock kamailio.cfg
    (contact,) = [
        c["Contact"]
        for aor in rpc(rpc_port, "ul.dump")["result"]["Domains"][0]["Domain"]["AoRs"]
        for c in aor["Info"]["Contacts"]
    ]
    assert contact["Received"] == f"sip:127.0.0.1:{uas_port}"
    assert contact["CFlags"] == 192
    # the location row is what a Kamailio with nathelper writes
    from kamtool.db.connect import connected
    from kamtool.db.models import Location

    with connected(proxy.config.db_url):
        (row,) = Location.select().where(Location.username == "1002")
        assert row.received == f"sip:127.0.0.1:{uas_port}" and row.cflags == 192
    # the callee's 200 names its private address too: ACK and BYE reach it by the alias
    with sipp_peer("uas_answer_nat.xml", proxy.port, uas_port, variables={"nat_host": NAT_HOST}):
        res = call(proxy.port)
        assert res.returncode == 0, explain(res)
    assert proxy.stat("core:rcv_requests_bye") == 1


def test_nated_caller_gets_the_callees_bye_by_its_alias(proxy):
    need("sipp")
    from tests.proxy.harness import register

    uas_port = free_port()
    register(proxy.port, "1002", uas_port)  # a callee with a public (here: own) address
    args = caller_args()
    args["variables"]["nat_host"] = CALLER_NAT_HOST
    with sipp_peer("uac_nat_wait_bye.xml", proxy.port, free_port(), **args):
        res = sipp("uas_answer_hangup.xml", proxy.port, uas_port)
        assert res.returncode == 0, explain(res)
    assert proxy.stat("core:rcv_requests_bye") == 1


def test_in_dialog_request_with_a_bad_alias_gets_400(proxy):
    client = UdpClient(proxy.port)
    try:
        rr = f"<sip:127.0.0.1:{proxy.port};lr>"
        resp = client.ask(
            "BYE",
            "sip:1002@192.168.77.10;alias=127.0.0.1~notaport~1",
            to="<sip:1002@127.0.0.1>;tag=x",
            headers=[f"Route: {rr}"],
        )
        assert resp.status == 400
    finally:
        client.close()


def test_nat_keepalive_pings_the_nated_contact(start_proxy):
    """natping_interval: OPTIONS to the received address of a NATed UDP binding."""
    proxy = start_proxy(natping_interval=1)
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.settimeout(5)
    client = UdpClient(proxy.port)
    try:
        client.sock.close()
        client.sock, client.port = phone, phone.getsockname()[1]
        resp = client.register("1003", USERS["1003"], [f"<sip:1003@{NAT_HOST}:5060>"])
        assert resp.status == 200
        assert f'received="sip:127.0.0.1:{client.port}"' in resp.headers.get("contact")
        from kamtool.sip.parser import parse_message

        ping = parse_message(phone.recvfrom(65535)[0])
        assert ping.method == "OPTIONS" and ping.uri_text == f"sip:1003@{NAT_HOST}:5060"
        reply = (
            f"SIP/2.0 200 OK\r\nVia: {ping.headers.get('via')}\r\n"
            f"From: {ping.headers.get('from')}\r\nTo: {ping.headers.get('to')};tag=p\r\n"
            f"Call-ID: {ping.call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        phone.sendto(reply.encode(), ("127.0.0.1", proxy.port))
        assert wait_for(lambda: proxy.stat("nathelper:pings_answered") >= 1)
        assert proxy.stat("core:drop_replies") == 0
    finally:
        client.close()


def test_nat_off_keeps_the_contact_address(start_proxy):
    """nat = false: the binding has no received and the call goes to the Contact."""
    proxy = start_proxy(nat=False)
    client = UdpClient(proxy.port)
    try:
        resp = client.register("1003", USERS["1003"], [f"<sip:1003@{NAT_HOST}:5060>"])
        assert resp.status == 200
        (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1003"))
        assert b.received is None and b.cflags == 0
    finally:
        client.close()
