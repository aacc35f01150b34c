"""Calls that cross transports through the proxy (UDP caller to TCP callee, the reverse, TCP
to TCP), against a real Kamailio 5.6 and ``kamtool serve`` with the same reference cfg
(which listens on udp and tcp, one address and port; it has no TLS or WebSocket leg).

What each UA receives is compared: the Record-Route (doubled, both ``r2=on``, when the
request leaves on another socket: the outbound one on top, ``transport=tcp`` on the TCP
entry), the Via the callee sees, Max-Forwards, the request to a TCP callee on the
connection it registered on, in-dialog requests both ways along the route set, CANCEL,
and what happens when a connection closes under a call. The UAs are tests/interop/wire.py
peers (their own parser). Where the two servers differ on purpose the test says why.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.interop.test_call_flows import collect, finals, requests
from tests.interop.wire import Msg, Peer, register

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)
CROSSING = [("udp", "tcp"), ("tcp", "udp")]
PAIRS = [*CROSSING, ("tcp", "tcp")]
_n = itertools.count(1)


def raw(peer: Peer, method: str, uri: str, *, frm: str, to: str, call_id: str, cseq: int,
        headers: list[str] | tuple[str, ...] = (), body: str = "", branch: str = "",
        max_forwards: int = 70) -> bytes:  # fmt: skip
    """A request with exactly these fields, its Via naming the peer's transport."""
    branch = branch or f"z9hG4bK-tb-{peer.port}-{next(_n)}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{peer.via_transport} 127.0.0.1:{peer.port};branch={branch};rport",
        f"From: {frm}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
        f"Max-Forwards: {max_forwards}", *headers, f"Content-Length: {len(body.encode())}",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def answer(peer: Peer, req: Msg, status: int, reason: str, *, tag: str = "uas1",
           body: str = "") -> None:  # fmt: skip
    """Answer ``req`` as a UA (its To tag, a Contact on 1xx/2xx, Record-Route echoed), over
    UDP to the proxy or on the connection the request came on."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for name, value in req.headers:
        if name in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append(f"{name.title()}: {value}")
        elif name == "to":
            lines.append(f"To: {value}" if ";tag=" in value else f"To: {value};tag={tag}")
    if status < 300:
        lines.append(f"Contact: {peer.contact('uas')}")
    lines.append(f"Content-Length: {len(body.encode())}")
    data = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
    if peer.transport == "udp":
        peer.sock.sendto(data, peer.server)
    else:
        peer._last_stream.sendall(data)


def rr_entry(target, transport: str, r2: bool) -> str:
    """One Record-Route entry of the proxy, its did= value left out (random)."""
    tp = ";transport=tcp" if transport == "tcp" else ""
    return f"<sip:127.0.0.1:{target.sip_port}{tp}{';r2=on' if r2 else ''};lr;ftag=c1;did=>"


def no_did(values: list[str]) -> list[str]:
    return [re.sub(r";did=[^;>]*", ";did=", v) for v in values]


@contextmanager
def callee_on(target, transport: str, user: str = "1002") -> Iterator[Peer]:
    """A UA registered as ``user`` over ``transport`` (its contact: its own address); all
    of ``user``'s bindings are removed after, from another peer (this one may be gone)."""
    peer = Peer(transport, target.sip_port)
    try:
        ok = register(peer, user, [f"Contact: {peer.contact(user)}", "Expires: 600"])
        assert ok.status == 200, ok.first
        yield peer
    finally:
        peer.close()
        with Peer("udp", target.sip_port) as other:
            register(other, user, ["Contact: *", "Expires: 0"])


class Call:
    """The caller's side of one INVITE through the proxy (From tag ``c1``)."""

    def __init__(self, caller: Peer, user: str = "1002", max_forwards: int = 70) -> None:
        self.caller = caller
        self.call_id = f"tb-{caller.port}-{next(_n)}@127.0.0.1"
        self.frm = "<sip:1001@127.0.0.1>;tag=c1"
        self.invite = raw(caller, "INVITE", f"sip:{user}@127.0.0.1", frm=self.frm,
                          to=f"<sip:{user}@127.0.0.1>", call_id=self.call_id, cseq=1,
                          headers=[f"Contact: {caller.contact('1001')}",
                                   "Content-Type: application/sdp"],
                          body=SDP, max_forwards=max_forwards)  # fmt: skip
        caller.send(self.invite)

    def in_dialog(self, ok: Msg, method: str, cseq: int) -> None:
        """A request of the caller in the dialog ``ok`` set up (its RR reversed)."""
        routes = [f"Route: {r}" for r in reversed(ok.all("record-route"))]
        self.caller.send(raw(self.caller, method, ok.get("contact").strip("<>"), frm=self.frm,
                             to=ok.get("to"), call_id=self.call_id, cseq=cseq,
                             headers=routes))  # fmt: skip

    def cancel(self) -> None:
        branch = self.invite.decode().split("branch=", 1)[1].split(";", 1)[0]
        self.caller.send(raw(self.caller, "CANCEL", "sip:1002@127.0.0.1", frm=self.frm,
                             to="<sip:1002@127.0.0.1>", call_id=self.call_id, cseq=1,
                             branch=branch))  # fmt: skip


def callee_request(callee: Peer, invite: Msg, method: str, cseq: int, body: str = "") -> bytes:
    """A request of the callee in the dialog ``invite`` (as received) set up."""
    routes = [f"Route: {r}" for r in invite.all("record-route")]
    return raw(callee, method, invite.get("contact").strip("<>"),
               frm=f"{invite.get('to')};tag=uas1", to=invite.get("from"),
               call_id=invite.get("call-id"), cseq=cseq,
               headers=[*routes, f"Contact: {callee.contact('uas')}"], body=body)  # fmt: skip


def answered(caller: Peer, callee: Peer) -> tuple[Call, Msg, Msg]:
    """A call answered 200 and ACKed: (call, INVITE as the callee got it, the 200)."""
    call = Call(caller)
    invite = callee.next_request()
    assert invite.method == "INVITE"
    answer(callee, invite, 200, "OK", body=SDP)
    ok = finals(collect(caller))[0]
    assert ok.status == 200
    call.in_dialog(ok, "ACK", 1)
    ack = callee.next_request()
    assert ack.method == "ACK" and not ack.all("route")
    return call, invite, ok


# ------------------------------------------------------------------ the initial request


@pytest.mark.parametrize(("ct", "et"), PAIRS)
def test_invite_across_transports(target, ct, et):
    with callee_on(target, et) as callee, Peer(ct, target.sip_port) as caller:
        Call(caller)
        invite = callee.next_request()
        assert invite.first == f"INVITE sip:1002@127.0.0.1:{callee.port};transport={et} SIP/2.0"
        if et == "tcp":  # over the connection it registered on (RFC 5626 §3.5.2 flow reuse)
            assert callee._last_stream is callee.sock
        rrs = no_did(invite.all("record-route"))
        if ct == et:
            assert rrs == [rr_entry(target, et, r2=False)]
        else:
            # enable_double_rr: the socket facing the callee on top, then the caller's
            assert rrs == [rr_entry(target, et, r2=True), rr_entry(target, ct, r2=True)]
        top, caller_via = invite.all("via")
        # Kamailio adds an ;i= (connection id) to the Via of a request that came over TCP
        assert top.startswith(f"SIP/2.0/{et.upper()} 127.0.0.1:{target.sip_port};branch=z9hG4bK")
        assert caller_via.startswith(f"SIP/2.0/{ct.upper()} 127.0.0.1:{caller.port};")
        assert "received=127.0.0.1" in caller_via and f"rport={caller.port}" in caller_via
        assert invite.get("max-forwards") == "69"
        answer(callee, invite, 180, "Ringing")
        answer(callee, invite, 200, "OK", body=SDP)
        ok = finals(collect(caller))[0]
        assert ok.status == 200 and ok.all("record-route") == invite.all("record-route")
        assert ok.all("via") == [caller_via]


def test_max_forwards_one_reaches_the_tcp_callee_with_zero(target):
    with callee_on(target, "tcp") as callee, Peer("udp", target.sip_port) as caller:
        Call(caller, max_forwards=1)
        invite = callee.next_request()
        assert invite.get("max-forwards") == "0"
        answer(callee, invite, 486, "Busy Here")
        assert finals(collect(caller))[0].status == 486


def test_fork_to_udp_and_tcp_contacts_record_routes_each_branch(target):
    # one AoR on both transports: only the branch that changes transport is doubled
    with callee_on(target, "udp", "1003") as b, Peer("tcp", target.sip_port) as c:
        ok = register(c, "1003", [f"Contact: {c.contact('1003')}", "Expires: 600"])
        assert ok.status == 200
        with Peer("udp", target.sip_port) as caller:
            Call(caller, "1003")
            on_udp, on_tcp = b.next_request(), c.next_request()
            assert no_did(on_udp.all("record-route")) == [rr_entry(target, "udp", r2=False)]
            assert no_did(on_tcp.all("record-route")) == [
                rr_entry(target, "tcp", r2=True), rr_entry(target, "udp", r2=True)
            ]  # fmt: skip
            answer(b, on_udp, 486, "Busy Here", tag="b1")
            answer(c, on_tcp, 486, "Busy Here", tag="c1")
            assert finals(collect(caller))[0].status == 486


# ------------------------------------------------------------------ dialogs


@pytest.mark.parametrize(("ct", "et"), PAIRS)
def test_dialog_requests_both_ways_follow_the_route_set(target, ct, et):
    with callee_on(target, et) as callee, Peer(ct, target.sip_port) as caller:
        call, invite, ok = answered(caller, callee)
        # the callee's re-INVITE, with the route set as it got it, reaches the caller
        callee.send(callee_request(callee, invite, "INVITE", 1, body=SDP))
        reinvite = caller.next_request()
        assert reinvite.first == f"INVITE sip:1001@127.0.0.1:{caller.port};transport={ct} SIP/2.0"
        assert not reinvite.all("route") and reinvite.get("max-forwards") == "69"
        # (over TCP both ways Kamailio's Via names the port its new connection left from)
        assert reinvite.all("via")[0].startswith(f"SIP/2.0/{ct.upper()} 127.0.0.1:")
        answer(caller, reinvite, 200, "OK", tag="c1", body=SDP)
        assert finals(collect(callee))[0].status == 200
        callee.send(callee_request(callee, invite, "ACK", 1))
        assert caller.next_request().method == "ACK"
        # the caller's BYE goes the other way
        call.in_dialog(ok, "BYE", 2)
        bye = callee.next_request()
        assert bye.first == f"BYE sip:uas@127.0.0.1:{callee.port};transport={et} SIP/2.0"
        assert not bye.all("route") and bye.get("max-forwards") == "69"
        assert bye.all("via")[0].startswith(f"SIP/2.0/{et.upper()} 127.0.0.1:")
        answer(callee, bye, 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200


@pytest.mark.parametrize(("ct", "et"), CROSSING)
def test_cancel_across_transports(target, ct, et):
    with callee_on(target, et) as callee, Peer(ct, target.sip_port) as caller:
        call = Call(caller)
        invite = callee.next_request()
        answer(callee, invite, 180, "Ringing")
        collect(caller, 0.3)
        call.cancel()
        cancel = callee.next_request()
        assert cancel.method == "CANCEL" and cancel.all("via") == invite.all("via")[:1]
        answer(callee, cancel, 200, "OK")
        answer(callee, invite, 487, "Request Terminated")
        assert requests(collect(callee), "ACK")  # the 487's, hop by hop on the callee's leg
        got = collect(caller)
        assert (200, "canceling") in [(m.status, m.reason) for m in finals(got, "CANCEL")]
        assert finals(got)[0].status == 487


# ------------------------------------------------------------------ connections closing


@pytest.mark.parametrize("ct", ["udp", "tcp"])
def test_bye_after_the_callees_connection_closed_opens_a_new_one(target, ct):
    with callee_on(target, "tcp") as callee, Peer(ct, target.sip_port) as caller:
        call, invite, ok = answered(caller, callee)
        callee.sock.close()  # the registration connection; the UA still listens
        callee._streams.remove(callee.sock)
        time.sleep(0.2)
        call.in_dialog(ok, "BYE", 2)
        bye = callee.next_request()  # over a connection the proxy opened (RFC 3261 §18.1.1)
        assert bye.method == "BYE" and callee._last_stream is not callee.sock
        answer(callee, bye, 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200


@pytest.mark.parametrize("ct", ["udp", "tcp"])
def test_bye_to_a_callee_gone_is_answered_at_once(target, ct):
    with callee_on(target, "tcp") as callee, Peer(ct, target.sip_port) as caller:
        call, invite, ok = answered(caller, callee)
        callee.close()  # connection and listener: nothing answers on that port
        time.sleep(0.2)
        call.in_dialog(ok, "BYE", 2)
        got = finals(collect(caller, 1.5), "BYE")
        if target.name == "kamailio":
            # Kamailio's own code for a failed send, twice: tm's 477, then the cfg's
            # sl_reply_error() after t_relay() failed (two final replies, against §8.2.6)
            assert [m.status for m in got] == [477, 477]
            assert got[0].reason.startswith("Unfortunately error on sending to next hop")
        else:
            # RFC 3261 §16.9: a transport error counts as a 503 of that branch, and a 503
            # goes upstream as 500 (§16.7 step 6). kamtool waited for fr_timer (408 after
            # 5 s) before: the connection failure never reached the transaction.
            assert [(m.status, m.reason) for m in got] == [(500, "Service Unavailable")]


@pytest.mark.parametrize("et", ["udp", "tcp"])
def test_final_reply_after_the_callers_connection_closed(target, et):
    with callee_on(target, et) as callee, Peer("tcp", target.sip_port) as caller:
        Call(caller)
        invite = callee.next_request()
        answer(callee, invite, 180, "Ringing")
        collect(caller, 0.3)
        caller.sock.close()  # the caller's connection goes; it still listens on its port
        caller._streams.remove(caller.sock)
        time.sleep(0.2)
        answer(callee, invite, 200, "OK", body=SDP)
        # RFC 3261 §18.2.2: over a new connection to the Via's received address and port
        # (sent-by and rport are the same port here; kamtool uses sent-by, as the RFC
        # says for TCP, Kamailio rport). kamtool dropped the reply before.
        ok = finals(collect(caller, 1.5))
        assert [m.status for m in ok] == [200] and caller._streams


def test_tcp_contact_that_names_another_port(target):
    """A TCP phone whose Contact names a port nobody listens on (phones rarely listen on
    TCP). kamtool records the connection's peer as the binding's ``received`` and reaches
    the phone over its registration connection (as the stock kamailio.cfg's WITH_NAT
    would); the reference cfg has no NAT handling, so Kamailio connects to the Contact's
    port, fails, and answers 477 (twice, as above)."""
    with Peer("tcp", target.sip_port) as phone, Peer("udp", target.sip_port) as caller:
        ok = register(phone, "1002", ["Contact: <sip:1002@127.0.0.1:1;transport=tcp>",
                                      "Expires: 600"])  # fmt: skip
        assert ok.status == 200
        try:
            Call(caller)
            if target.name == "kamailio":
                got = finals(collect(caller, 1.5))
                # (two replies with two To tags: sl's and tm's, tm's retransmitted: no ACK)
                assert {m.status for m in got} == {477} and len({m.get("to") for m in got}) == 2
                return
            invite = phone.next_request()
            assert invite.first == "INVITE sip:1002@127.0.0.1:1;transport=tcp SIP/2.0"
            assert phone._last_stream is phone.sock
            answer(phone, invite, 486, "Busy Here")
            assert finals(collect(caller))[0].status == 486
        finally:
            register(phone, "1002", ["Contact: *", "Expires: 0"])


# ------------------------------------------------------------------ WebSocket legs


@pytest.mark.parametrize("proto", ["ws", "wss"])
def test_record_route_of_a_websocket_socket_says_transport_ws(proto):
    """kamtool only: no cfg of the test suite routes SIP over WebSocket on Kamailio. RFC
    7118 §5.2 defines one URI transport, ``ws``, for WS and WSS alike, and Kamailio's rr
    writes ``transport=ws`` for a wss socket too (msg_translator.c, 5.6.3); kamtool wrote
    ``transport=wss``, a value no SIP URI grammar knows, for a browser on wss."""
    from kamtool.proxy.codec import Codec
    from kamtool.proxy.config import Listen, ProxyConfig

    codec = Codec(ProxyConfig())
    rr = codec.record_route(Listen(proto, "127.0.0.1", 8443), "c1", None, r2=True)
    assert rr == "<sip:127.0.0.1:8443;transport=ws;r2=on;lr;ftag=c1>"
