"""The default route step by step with crafted requests over UDP (no external tools)."""

from __future__ import annotations

import pytest

from tests.proxy.conftest import USERS
from tests.proxy.harness import UdpClient, wait_for


@pytest.fixture
def client(proxy):
    c = UdpClient(proxy.port)
    yield c
    c.close()


def test_max_forwards_zero_is_483(proxy, client):
    resp = client.ask("OPTIONS", "sip:1002@127.0.0.1", headers=["Max-Forwards: 0"])
    assert (resp.status, resp.reason) == (483, "Too Many Hops")


def test_keepalive_options_and_no_server_header(proxy, client):
    resp = client.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
    assert (resp.status, resp.reason) == (200, "Keepalive")
    assert "server" not in resp.headers
    tag = resp.to_tag
    assert tag and len(tag.split(".")[0]) == 32 and len(tag.split(".")[1]) == 8


def test_malformed_request_gets_400_with_a_reason(proxy, client):
    client.send_raw(
        b"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
        + str(client.port).encode()
        + b";branch=z9hG4bK-bad\r\nFrom: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>\r\n"
        b"Call-ID: bad@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    resp = client.recv()
    assert resp.status == 400 and "CSeq" in resp.reason
    assert proxy.stat("core:err_requests") == 1


def test_invite_without_credentials_is_407_and_register_401(proxy, client):
    resp = client.ask("INVITE", "sip:1002@127.0.0.1")
    assert resp.status == 407
    ch = resp.headers.get("proxy-authenticate")
    # the reference cfg offers no qop (auth_challenge flags 0); kamtool's default route
    # offers qop=auth, whose nonce counts stop replays ([proxy] auth_qop = false: none)
    assert ch.startswith('Digest realm="127.0.0.1", nonce="') and ch.endswith('qop="auth"')
    resp = client.ask("REGISTER", "sip:127.0.0.1", to="<sip:1001@127.0.0.1>",
                      headers=["Contact: <sip:1001@127.0.0.1:5999>"])  # fmt: skip
    assert resp.status == 401 and resp.headers.get("www-authenticate").startswith("Digest")


def test_foreign_domains_are_not_relayed(proxy, client):
    # neither the From domain nor the R-URI domain is ours: no open relay
    raw = client.request("MESSAGE", "sip:bob@192.0.2.1").replace(
        b"From: <sip:1001@127.0.0.1>", b"From: <sip:eve@198.51.100.7>"
    )
    client.send_raw(raw)
    resp = client.recv()
    assert (resp.status, resp.reason) == (403, "Not relaying")


def test_registrar_bindings_q_expires_star_and_min_expires(proxy, client):
    a, b = "<sip:1001@127.0.0.1:6001>;q=0.5", "<sip:1001@127.0.0.1:6002>"
    resp = client.register("1001", USERS["1001"], [a, b], expires=600)
    assert resp.status == 200
    listed = resp.headers.get_all("contact")
    assert "<sip:1001@127.0.0.1:6002>;expires=600" in listed
    assert "<sip:1001@127.0.0.1:6001>;q=0.5;expires=600" in listed
    order = proxy.call(lambda: [x.contact for x in proxy.server.usrloc.lookup("1001")])
    assert order == ["sip:1001@127.0.0.1:6002", "sip:1001@127.0.0.1:6001"]  # by q
    # below min_expires: raised to it, as Kamailio's registrar (min_expires_mode 0)
    resp = client.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6004>"], expires=5)
    assert resp.status == 200
    assert "<sip:1001@127.0.0.1:6004>;expires=10" in resp.headers.get_all("contact")
    client.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6004>"], expires=0)
    resp = client.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6003>"], expires=99999)
    assert resp.status == 200
    assert "<sip:1001@127.0.0.1:6003>;expires=3600" in resp.headers.get_all("contact")
    resp = client.register("1001", USERS["1001"], ["*"], expires=600)
    assert resp.status == 400
    resp = client.register("1001", USERS["1001"], ["*"], expires=0)
    assert resp.status == 200 and "contact" not in resp.headers
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1001")) == []
    assert proxy.stat("registrar:accepted_regs") == 5
    assert proxy.stat("registrar:rejected_regs") == 0  # "*" misuse fails sanity


def test_registrar_statistics_show_the_configuration(start_proxy):
    """registrar:max_contacts and max_expires are the configured values, as Kamailio's
    registrar shows its modparams (max_contacts read 0 whatever was set)."""
    proxy = start_proxy(max_contacts=3, max_expires=1800)
    assert proxy.stat("registrar:max_contacts") == 3
    assert proxy.stat("registrar:max_expires") == 1800


def test_min_expires_mode_1_answers_423(start_proxy):
    """min_expires_mode = 1: a registration shorter than min_expires is refused with 423
    and Min-Expires (RFC 3261 10.3), nothing saved."""
    proxy = start_proxy(min_expires_mode=1)
    client = UdpClient(proxy.port)
    try:
        resp = client.register("1001", USERS["1001"], ["<sip:1001@127.0.0.1:6003>"], expires=5)
    finally:
        client.close()
    assert resp.status == 423 and resp.headers.get("min-expires") == "10"
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1001")) == []
    assert proxy.stat("registrar:rejected_regs") == 1


def test_register_path_is_stored_and_echoed(proxy, client):
    resp = client.register(
        "1002", USERS["1002"], ["<sip:1002@10.9.9.9:5060>"],
        extra=["Path: <sip:127.0.0.1:6100;lr>", "Supported: path"],
    )  # fmt: skip
    assert resp.status == 200 and resp.headers.get("path") == "<sip:127.0.0.1:6100;lr>"
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1002"))
    assert b.path == "<sip:127.0.0.1:6100;lr>"
    target = proxy.server.parts.codec.target_for_binding(b)
    assert target.dest == ("udp", "127.0.0.1", 6100) and target.path == ["<sip:127.0.0.1:6100;lr>"]


def test_unknown_user_404_and_method_filter_405(proxy, client):
    resp = client.register(
        "1002", USERS["1002"], ["<sip:1002@127.0.0.1:6200>"], extra=["Allow: INVITE, ACK, BYE"]
    )
    assert resp.status == 200
    from kamtool.sip.digest import answer_challenge, parse_challenge

    def authed(method, user):
        first = client.ask(method, f"sip:{user}@127.0.0.1")
        assert first.status == 407
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        creds = answer_challenge(ch, cnonce="0a4f113b", method=method, uri=f"sip:{user}@127.0.0.1",
                                 username="1001", password=USERS["1001"])  # fmt: skip
        return client.ask(method, f"sip:{user}@127.0.0.1",
                          headers=[f"Proxy-Authorization: {creds.to_header()}"])  # fmt: skip

    resp = authed("MESSAGE", "1003")
    assert (resp.status, resp.reason) == (404, "Not Found")
    resp = authed("MESSAGE", "1002")
    assert resp.status == 405


def test_request_retransmission_gets_the_same_reply(proxy, client):
    data = client.request("MESSAGE", "sip:nobody@127.0.0.1", from_user="eve")
    data = data.replace(b"<sip:eve@127.0.0.1>", b"<sip:eve@198.51.100.7>")  # no auth: 404
    client.send_raw(data)
    first = client.recv()
    client.send_raw(data)
    again = client.recv()
    assert first.status == again.status and first.to_tag == again.to_tag


def test_in_dialog_request_without_our_route_is_404(proxy, client):
    resp = client.ask("BYE", "sip:1002@127.0.0.1:7000", to="<sip:1002@127.0.0.1>;tag=x")
    assert (resp.status, resp.reason) == (404, "Not here")


def test_cancel_without_transaction_is_481(proxy, client):
    resp = client.ask("CANCEL", "sip:1002@127.0.0.1")
    assert resp.status == 481


def test_auth_can_be_switched_off(start_proxy):
    proxy = start_proxy(auth=False)
    c = UdpClient(proxy.port)
    try:
        resp = c.ask("REGISTER", "sip:127.0.0.1", to="<sip:1003@127.0.0.1>",
                     headers=["Contact: <sip:1003@127.0.0.1:6300>", "Expires: 60"])  # fmt: skip
        assert resp.status == 200
    finally:
        c.close()


def test_trusted_source_in_address_group_1_skips_auth_but_not_for_register(proxy_db, start_proxy):
    from kamtool.db.connect import connected
    from kamtool.db.models import Address

    with connected(proxy_db):
        Address.insert(grp=1, ip_addr="127.0.0.0", mask=8, port=0, tag="lab").execute()
    proxy = start_proxy()
    c = UdpClient(proxy.port)
    try:
        resp = c.ask("MESSAGE", "sip:1003@127.0.0.1")
        assert (resp.status, resp.reason) == (404, "Not Found")  # no 407
        resp = c.ask("REGISTER", "sip:127.0.0.1", to="<sip:1003@127.0.0.1>",
                     headers=["Contact: <sip:1003@127.0.0.1:6300>"])  # fmt: skip
        assert resp.status == 401
    finally:
        c.close()
    assert proxy.call(lambda: proxy.server.permissions.addresses())[0].tag == "lab"


def test_domain_table_entries_are_local(proxy_db, start_proxy):
    from kamtool.db.connect import connected
    from kamtool.db.models import Domain

    with connected(proxy_db):
        Domain.insert(domain="example.org").execute()
    proxy = start_proxy()
    c = UdpClient(proxy.port)
    try:
        raw = c.request("MESSAGE", "sip:1003@example.org").replace(
            b"From: <sip:1001@127.0.0.1>", b"From: <sip:eve@198.51.100.7>"
        )
        c.send_raw(raw)
        resp = c.recv()
        assert (resp.status, resp.reason) == (404, "Not Found")  # relayed to location
    finally:
        c.close()


def test_tcp_keepalive_options_and_idle_connection_closed(start_proxy):
    import socket

    proxy = start_proxy(tcp_connection_lifetime=0.5, timer_interval=0.2)
    c = UdpClient(proxy.port)  # only for building the request bytes
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            s.sendall(b"\r\n\r\n")  # RFC 5626 ping
            assert s.recv(2) == b"\r\n"
            req = c.request("OPTIONS", f"sip:127.0.0.1:{proxy.port}").replace(b"UDP", b"TCP")
            s.sendall(req)
            assert s.recv(4096).startswith(b"SIP/2.0 200 Keepalive")
            assert s.recv(4096) == b""  # closed by the proxy once idle
    finally:
        c.close()


def test_dialog_route_sets_split_around_our_record_route(proxy):
    from kamtool.sip.parser import parse_message

    ours = f"<sip:127.0.0.1:{proxy.port};lr;ftag=f;did=a.1>"
    resp = parse_message(
        (
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
            "From: <sip:a@x>;tag=f\r\nTo: <sip:b@x>;tag=t\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
            f"Record-Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>\r\nRecord-Route: {ours}\r\n"
            "Record-Route: <sip:10.0.0.1;lr>\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    caller, callee = proxy.server.parts.dialog_steps.route_sets(resp, "a.1")
    assert caller == "<sip:10.0.0.1;lr>"
    assert callee == "<sip:10.0.0.8;lr>,<sip:10.0.0.9;lr>"
    assert proxy.server.parts.dialog_steps.route_sets(resp, "b.2") == ("", "")


def test_database_failure_during_lookup_is_a_500_not_silence(start_proxy):
    proxy = start_proxy(db_mode=3, auth=False)

    def broken(aor):
        raise RuntimeError("database is gone")

    proxy.call(lambda: setattr(proxy.server.usrloc, "lookup", broken))
    c = UdpClient(proxy.port)
    try:
        resp = c.ask("MESSAGE", "sip:1002@127.0.0.1")
        assert (resp.status, resp.reason) == (500, "Server Internal Error")
        assert c.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}").status == 200  # still up
    finally:
        c.close()


def test_own_replies_fill_rport_and_received(proxy, client):
    """RFC 3581 §4: a request whose Via asks for rport gets it filled in (and received=)
    in every reply, also those the proxy answers itself (sl replies, 401), as Kamailio's."""
    for method, uri, status in (
        ("OPTIONS", f"sip:127.0.0.1:{proxy.port}", 200),
        ("REGISTER", "sip:127.0.0.1", 401),
        ("INVITE", "sip:1002@127.0.0.1", 407),
    ):
        resp = client.ask(method, uri)
        assert resp.status == status
        via = resp.top_via
        assert (via.rport, via.params.get("received")) == (client.port, "127.0.0.1"), method
    # an asymmetric UA (its Via names another port): the reply still comes back to the
    # port it sent from, and says which one that was
    client.send_raw(
        client.request("OPTIONS", f"sip:127.0.0.1:{proxy.port}").replace(
            f"127.0.0.1:{client.port};".encode(), b"127.0.0.1:5999;", 1
        )
    )
    resp = client.recv()
    assert resp.status == 200 and resp.top_via.port == 5999 and resp.top_via.rport == client.port


def test_malformed_requests_that_get_no_400(proxy):
    """A malformed ACK is never answered (RFC 3261 17.1.1.3), nor one whose Via names our
    own socket: its 400 came back to us as a response and was relayed down the next Via
    to the caller (found with SIPp: "BYE ACK sip:... SIP/2.0", CSeq ACK). Any other
    malformed request still gets its 400."""
    ua = UdpClient(proxy.port, timeout=1.0)

    def malformed(method_line: str, cseq: str, vias: list[str]) -> bytes:
        lines = [method_line, *[f"Via: {v}" for v in vias],
                 "From: <sip:1001@127.0.0.1>;tag=a", "To: <sip:1002@127.0.0.1>",
                 f"Call-ID: bad-{cseq.replace(' ', '-')}-{ua.port}", f"CSeq: {cseq}",
                 "Content-Length: 0"]  # fmt: skip
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    mine = f"SIP/2.0/UDP 127.0.0.1:{ua.port};branch=z9hG4bK-mine"
    ours = f"SIP/2.0/UDP 127.0.0.1:{proxy.port};branch=z9hG4bK-ours"
    try:
        ua.send_raw(malformed("BYE ACK sip:1002@127.0.0.1 SIP/2.0", "2 ACK", [ours, mine]))
        ua.send_raw(malformed("BYE BYE sip:1002@127.0.0.1 SIP/2.0", "3 BYE", [ours, mine]))
        ua.send_raw(malformed("ACK ACK sip:1002@127.0.0.1 SIP/2.0", "4 ACK", [mine]))
        ua.send_raw(malformed("INVITE X sip:1002@127.0.0.1 SIP/2.0", "5 INVITE", [mine]))
        reply = ua.recv()  # the first thing back is the INVITE's 400: nothing before it
        assert (reply.status, reply.cseq.num) == (400, 5)
        with pytest.raises(TimeoutError):
            ua.recv()
        # a request line that reads decides: an INVITE whose CSeq says ACK is an INVITE
        # with a bad CSeq, and gets its 400 (as from Kamailio; found by a fuzz audit)
        ua.send_raw(malformed("INVITE sip:1002@127.0.0.1 SIP/2.0", "6 ACK", [mine]))
        reply = ua.recv()
        assert (reply.status, reply.cseq.num) == (400, 6)
    finally:
        ua.close()


def test_in_dialog_ack_without_a_via_branch_is_relayed(proxy):
    """An RFC 2543 UA sends no branch in its Via: its ACK for a 2xx still goes on (the
    stateless branch had nothing to start from and the route failed; found by a fuzz audit)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as uas, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ua:  # fmt: skip
        uas.bind(("127.0.0.1", 0))
        ua.bind(("127.0.0.1", 0))
        uas.settimeout(3)
        uas_port, ua_port = uas.getsockname()[1], ua.getsockname()[1]
        ack = (
            f"ACK sip:1002@127.0.0.1:{uas_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{ua_port}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=aa\r\n"
            "To: <sip:1002@127.0.0.1>;tag=bb\r\nCall-ID: nobranch-1\r\nCSeq: 1 ACK\r\n"
            f"Route: <sip:127.0.0.1:{proxy.port};lr>\r\nContent-Length: 0\r\n\r\n"
        )
        ua.sendto(ack.encode(), ("127.0.0.1", proxy.port))
        got = uas.recv(65535).decode()
        ua.sendto(ack.encode(), ("127.0.0.1", proxy.port))  # a retransmission: same branch
        again = uas.recv(65535).decode()
    assert got.startswith(f"ACK sip:1002@127.0.0.1:{uas_port} SIP/2.0")
    branch = got.split("branch=", 1)[1].split(";", 1)[0].split("\r\n", 1)[0]
    assert branch.startswith("z9hG4bK") and f"branch={branch}" in again


def test_a_stray_reply_whose_next_via_is_a_name_is_dropped_quietly(proxy, caplog):
    """A reply to no transaction goes on by the next Via; a host name there (we mark a
    named sent-by with received=) went to sendto unresolved: a traceback per packet."""
    import socket

    before = proxy.stat("core:drop_replies")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        reply = (
            "SIP/2.0 180 Ringing\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{proxy.port};branch=z9hG4bKstray1\r\n"
            "Via: SIP/2.0/UDP localhost:5999;branch=z9hG4bK1\r\n"
            "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray-1\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(reply.encode(), ("127.0.0.1", proxy.port))
    assert wait_for(lambda: proxy.stat("core:drop_replies") == before + 1, 5)
    assert "Traceback" not in caplog.text and "error handling" not in caplog.text


def test_a_reply_too_big_for_udp_is_logged_not_lost_in_silence(start_proxy, caplog):
    """A REGISTER of many contacts over UDP: its 200 lists them all and cannot fit in a
    datagram; the kernel refused it and nothing said so (fuzz audit). Now a warning."""
    import socket

    proxy = start_proxy(auth=False)
    contacts = ", ".join(f"<sip:1003@127.0.0.1:{6000 + n};transport=udp;x={'y' * 40}>"
                         for n in range(700))  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        register = (
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbig;rport\r\n"
            "From: <sip:1003@127.0.0.1>;tag=big\r\nTo: <sip:1003@127.0.0.1>\r\n"
            "Call-ID: big-1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
            f"Contact: {contacts}\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n"
        )
        assert len(register) < 65000
        s.sendto(register.encode(), ("127.0.0.1", proxy.port))
        said = lambda: "does not fit in a datagram" in caplog.text  # noqa: E731
        assert wait_for(said, 10), caplog.text[-2000:]
