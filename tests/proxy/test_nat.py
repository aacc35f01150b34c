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
    register_nated_at(proxy.port, user, local_port, **kw)


def register_nated_at(proxy_port: int, user: str, local_port: int, **kw):
    """SIPp registers ``user`` claiming to be at NAT_HOST:5060, from 127.0.0.1:local_port."""
    res = sipp(
        "register_nat.xml",
        proxy_port,
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
        res = sipp("uas_hangup.xml", proxy.port, uas_port)
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
    client = UdpClient(proxy.port, timeout=5)
    phone = client.sock
    try:
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


def _nat_cfg(tmp_path):
    """The reference cfg plus what the stock kamailio.cfg does WITH_NAT for a REGISTER
    (nathelper loaded, received_avp, nat_bflag 6, sipping_bflag 7, force_rport in
    REQINIT, NATDETECT before save)."""
    from tests.support.kamailio import CONFIG

    text = CONFIG.read_text()
    modules = 'loadmodule "pike.so"\n'
    registrar = 'route[REGISTRAR] {\n\tif (!is_method("REGISTER")) return;\n'
    reqinit = "route[REQINIT] {\n"
    assert modules in text and registrar in text and reqinit in text, "the reference cfg changed"
    text = text.replace(reqinit, reqinit + "\tforce_rport();\n")
    text = text.replace(modules, modules + "\n".join([
        'loadmodule "nathelper.so"',
        'modparam("nathelper", "natping_interval", 30)',
        'modparam("nathelper", "ping_nated_only", 1)',
        'modparam("nathelper", "sipping_bflag", 7)',
        'modparam("nathelper", "sipping_from", "sip:pinger@kamailio.org")',
        'modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")',
        'modparam("usrloc", "nat_bflag", 6)',
        "",
    ]))  # fmt: skip
    text = text.replace(registrar, registrar + (
        '\tif (nat_uac_test("19")) {\n\t\tfix_nated_register();\n'
        "\t\tsetbflag(6);\n\t\tsetbflag(7);\n\t}\n"
    ))  # fmt: skip
    path = tmp_path / "kamailio-nat.cfg"
    path.write_text(text)
    return path


def _register_1003(port: int) -> tuple[str, str]:
    """1003 registers from behind a NAT; (200's Contact without received, received with
    the source port replaced by PORT)."""
    client = UdpClient(port)
    try:
        resp = client.register("1003", USERS["1003"], [f"<sip:1003@{NAT_HOST}:5060>"])
        assert resp.status == 200
        head, _, received = resp.headers.get("contact").partition(";received=")
        return head, received.replace(str(client.port), "PORT")
    finally:
        client.close()


def test_received_and_flags_match_kamailio_with_nathelper(tmp_path, start_proxy, monkeypatch):
    """The same NATed REGISTER (SIPp) to a Kamailio running the reference cfg with the
    stock WITH_NAT registration logic and to kamtool: ul.dump shows the same binding."""
    from tests.support import kamailio as kam

    kam.require_kamailio()
    need("sipp")
    monkeypatch.setattr(kam, "CONFIG", _nat_cfg(tmp_path))
    theirs_port = free_port()
    with kam.Kamailio(tmp_path) as k:
        register_nated_at(k.sip_port, "1002", theirs_port)
        their_reply = _register_1003(k.sip_port)
        (theirs,) = [
            c["Contact"]
            for aor in k.rpc("ul.dump")["Domains"][0]["Domain"]["AoRs"]
            for c in aor["Info"]["Contacts"]
            if aor["Info"]["AoR"] == "1002"
        ]
    rpc_port = free_port()
    proxy = start_proxy(
        rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"), nat_uac_test=19
    )
    ours_port = free_port()
    register_nated_at(proxy.port, "1002", ours_port)
    our_reply = _register_1003(proxy.port)
    # the 200 lists the binding with registrar's received parameter, as Kamailio's does
    assert our_reply[0] == their_reply[0] and their_reply[0].endswith(";expires=600")
    assert our_reply[1] == their_reply[1] == '"sip:127.0.0.1:PORT"'
    (ours,) = [
        c["Contact"]
        for aor in rpc(rpc_port, "ul.dump")["result"]["Domains"][0]["Domain"]["AoRs"]
        for c in aor["Info"]["Contacts"]
        if aor["Info"]["AoR"] == "1002"
    ]
    assert theirs["Received"] == f"sip:127.0.0.1:{theirs_port}"
    assert ours["Received"] == f"sip:127.0.0.1:{ours_port}"
    for key in ("Address", "CFlags", "Path", "Socket"):
        if key == "Socket":
            assert ours[key].split(":")[:2] == theirs[key].split(":")[:2]
        else:
            assert ours[key] == theirs[key], key


def test_nated_tcp_phone_gets_the_whole_call_on_its_connection(proxy):
    """A phone behind a NAT on TCP (Contact 10.x:5060;transport=tcp, listening nowhere):
    the INVITE comes on the connection it registered on, and so do the caller's ACK and
    BYE, routed by the alias the proxy put on the phone's 200."""
    need("sipp")
    from kamtool.sip.digest import answer_challenge, parse_challenge
    from kamtool.sip.parser import StreamFramer
    from tests.proxy.harness import sipp_background

    contact = "<sip:1003@10.99.99.99:5060;transport=tcp>"
    helper = UdpClient(proxy.port)  # builds the requests, answers nothing itself
    framer = StreamFramer()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as phone:

        def next_message():
            while True:
                ev = framer.next_event()
                if ev is not None and hasattr(ev, "headers"):
                    return ev
                if ev is None:
                    data = phone.recv(65535)
                    assert data, "the proxy closed the phone's connection"
                    framer.feed(data)

        def send(data: bytes) -> None:
            phone.sendall(data.replace(b"SIP/2.0/UDP 127.0.0.1", b"SIP/2.0/TCP 10.99.99.99"))

        reg = dict(from_user="1003", to="<sip:1003@127.0.0.1>", call_id="tcp-nat-reg@x",
                   headers=[f"Contact: {contact}", "Expires: 600"])  # fmt: skip
        send(helper.request("REGISTER", "sip:127.0.0.1", **reg))
        ch = parse_challenge(next_message().headers.get("www-authenticate"))
        cred = answer_challenge(ch, cnonce="0a4f113b", method="REGISTER", uri="sip:127.0.0.1",
                                username="1003", password=USERS["1003"])  # fmt: skip
        reg["headers"] = [*reg["headers"], f"Authorization: {cred.to_header()}"]
        send(helper.request("REGISTER", "sip:127.0.0.1", cseq=2, **reg))
        assert next_message().status == 200
        (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1003"))
        assert b.received == f"sip:127.0.0.1:{phone.getsockname()[1]};transport=tcp"
        uac = sipp_background("uac_call.xml", proxy.port, free_port(), **caller_args("1003"))
        try:
            invite = next_message()
            assert (
                invite.method == "INVITE"
                and invite.uri_text == "sip:1003@10.99.99.99:5060;transport=tcp"
            )
            h = invite.headers
            ok = "\r\n".join([
                "SIP/2.0 200 OK",
                *[f"Via: {v}" for v in h.get_all("via")],
                *[f"Record-Route: {r}" for r in h.get_all("record-route")],
                f"From: {h.get('from')}", f"To: {h.get('to')};tag=phone1",
                f"Call-ID: {invite.call_id}", f"CSeq: {h.get('cseq')}",
                f"Contact: {contact}", "Content-Length: 0", "", "",
            ])  # fmt: skip
            phone.sendall(ok.encode())
            ack = next_message()
            assert ack.method == "ACK" and "alias" not in ack.uri_text
            bye = next_message()
            assert bye.method == "BYE" and bye.uri_text == "sip:1003@10.99.99.99:5060;transport=tcp"
            h = bye.headers
            phone.sendall("\r\n".join([
                "SIP/2.0 200 OK", *[f"Via: {v}" for v in h.get_all("via")],
                f"From: {h.get('from')}", f"To: {h.get('to')}", f"Call-ID: {bye.call_id}",
                f"CSeq: {h.get('cseq')}", "Content-Length: 0", "", "",
            ]).encode())  # fmt: skip
            out, err = uac.communicate(timeout=30)
            assert uac.returncode == 0, out[-3000:] + err[-2000:]
        finally:
            uac.kill()
    helper.close()


def test_sipsak_behind_a_nat_registers_with_its_source_as_received(proxy):
    """sipsak (a real UA) says Contact 192.168.1.5:5060 but sends from 127.0.0.1:lport."""
    import subprocess

    from tests.proxy.harness import low_free_port

    need("sipsak")
    lport = low_free_port()
    res = subprocess.run(
        ["sipsak", "-U", "-C", "sip:1001@192.168.1.5:5060", "-l", str(lport), "--symmetric",
         "-s", f"sip:1001@127.0.0.1:{proxy.port}", "-a", USERS["1001"]],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout.decode("latin-1")[-2000:]
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1001"))
    assert b.contact == "sip:1001@192.168.1.5:5060"
    assert b.received == f"sip:127.0.0.1:{lport}" and b.cflags == 192


def test_asymmetric_sipsak_registration_is_not_taken_for_nat(proxy):
    """sipsak sends from another port than it listens on and registers a contact for a
    SIPp UAS (Via and Contact at 127.0.0.1, the source address): not NATed by the default
    test (3), so the call goes to the contact, not to sipsak's sending port."""
    import subprocess

    need("sipsak")
    need("sipp")
    from tests.proxy.harness import low_free_port

    uas_port = low_free_port()
    res = subprocess.run(
        ["sipsak", "-U", "-C", f"sip:1002@127.0.0.1:{uas_port}",
         "-s", f"sip:1002@127.0.0.1:{proxy.port}", "-a", USERS["1002"]],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout.decode("latin-1")[-2000:]
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1002"))
    assert b.received is None and b.cflags == 0
    with sipp_peer("uas_answer.xml", proxy.port, uas_port):
        res = call(proxy.port)
        assert res.returncode == 0, explain(res)


@pytest.mark.parametrize("db_mode, pinged", [(3, False), (2, True)])
def test_keepalive_leaves_another_hosts_bindings_to_it(start_proxy, db_mode, pinged):
    """With a location shared by several hosts (db_mode 3 here; Redis likewise) a NATed
    binding registered through another host (its socket is not one of ours) is left to
    that host, whose address the phone's NAT pinhole leads to; a lone proxy (db_mode 2)
    pings every NATed binding it holds."""
    import time

    from kamtool.proxy.binding import Binding

    proxy = start_proxy(natping_interval=1, db_mode=db_mode)
    client = UdpClient(proxy.port)
    ours = client.sock
    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    theirs.bind(("127.0.0.1", 0))
    theirs.settimeout(3)
    try:
        resp = client.register("1003", USERS["1003"], [f"<sip:1003@{NAT_HOST}:5060>"])
        assert resp.status == 200
        other = Binding(
            aor="1002", contact=f"sip:1002@{NAT_HOST}:5060", expires=time.time() + 600,
            received=f"sip:127.0.0.1:{theirs.getsockname()[1]}", socket="udp:192.0.2.10:5060",
            cflags=1 << 6, ruid="uloc-other-host",
        )  # fmt: skip
        proxy.call(lambda: proxy.server.usrloc.save(other))
        assert ours.recvfrom(65535)[0].startswith(b"OPTIONS sip:1003@")
        try:
            got = theirs.recvfrom(65535)[0]
        except TimeoutError:
            got = b""
        assert got.startswith(b"OPTIONS sip:1002@") == pinged, got[:80]
    finally:
        client.close()
        theirs.close()
