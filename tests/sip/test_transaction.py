"""RFC 3261 section 17 transactions (+ RFC 6026), client core against server core in memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamtool.sip.events import (
    Peer,
    RequestReceived,
    ResponseReceived,
    Send,
    Terminated,
    TransactionTimeout,
    TransportError,
)
from kamtool.sip.message import make_response
from kamtool.sip.parser import parse_message
from kamtool.sip.timers import TimerConfig
from kamtool.sip.transaction import TransactionLayer, build_ack, client_key

from .sipnet import FAST, UAC, UAS, Wire, deliver, of, request, respond, sends


def layers(**kw):
    return TransactionLayer(FAST, **kw), TransactionLayer(FAST, trying_after=None, **kw)


def run_timers(layer: TransactionLayer, until: float) -> tuple[list, list[float]]:
    """Fire every timer of ``layer`` up to ``until``; events and the times they fired at."""
    events, times = [], []
    while (d := layer.next_deadline()) is not None and d <= until:
        ev = layer.handle_timer(d)
        events.extend(ev)
        times.extend(d for _ in sends(ev))
    return events, times


# ---------------------------------------------------------------- non-INVITE


def test_non_invite_round_trip_and_cleanup():
    client, server = layers()
    req = request("OPTIONS")
    out = client.send_request(req, UAS, now=0.0)
    assert [type(e) for e in out] == [Send] and out[0].destination == UAS
    key = client_key(req)
    assert client.state(key) == "Trying"

    got = deliver(out, server, UAC, now=0.01)
    (new,) = of(got, RequestReceived)
    assert new.request.method == "OPTIONS" and new.source == UAC and new.cancels is None
    assert server.state(new.key) == "Trying"

    answer = respond(server, new.key, new.request, 200, now=0.02)
    assert server.state(new.key) == "Completed"
    (resp,) = of(deliver(answer, client, UAS, now=0.03), ResponseReceived)
    assert resp.response.status == 200 and resp.key == key
    assert client.state(key) == "Completed"

    # Timer K (T4) ends the client, Timer J (64*T1) the server; no retransmissions meanwhile.
    ev, sent = run_timers(client, 100)
    assert sent == [] and of(ev, Terminated) == [Terminated(key)]
    ev, sent = run_timers(server, 100)
    assert sent == [] and of(ev, Terminated) == [Terminated(new.key)]
    assert len(client) == len(server) == 0 and client.next_deadline() is None


def test_timer_e_backoff_and_timer_f_timeout():
    client = TransactionLayer(FAST)
    key = client_key(request())
    client.send_request(request(), UAS, now=0.0)
    events, times = run_timers(client, 100)
    # E: T1, 2T1, 4T1 then capped at T2 (17.1.2.2) until F = 64*T1 = 32 s
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert of(events, TransactionTimeout) == [TransactionTimeout(key, "F")]
    assert of(events, Terminated) == [Terminated(key)] and len(client) == 0


def test_proceeding_retransmits_every_t2():
    client, server = layers()
    out = client.send_request(request(), UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    deliver(respond(server, new.key, new.request, 100, 0.02), client, UAS, 0.03)
    assert client.state(client_key(new.request)) == "Proceeding"
    _, times = run_timers(client, 12)
    assert times == [0.5, 4.5, 8.5]  # the E already armed, then every T2 (17.1.2.2)


def test_lost_request_is_retransmitted_and_server_absorbs_duplicates():
    client, server = layers()
    out = client.send_request(request(), UAS, 0.0)  # lost
    retrans, _ = run_timers(client, 0.5)
    assert sends(retrans)[0].data == out[0].data
    first = deliver(retrans, server, UAC, 0.51)
    (new,) = of(first, RequestReceived)
    # duplicates while Trying: absorbed without any response (17.2.2)
    assert deliver(retrans, server, UAC, 0.52) == []
    provisional = respond(server, new.key, new.request, 100, 0.6)
    # in Proceeding a duplicate gets the last provisional again
    again = deliver(retrans, server, UAC, 0.7)
    assert [s.data for s in sends(again)] == [sends(provisional)[0].data]
    final = respond(server, new.key, new.request, 404, 0.8)
    again = deliver(retrans, server, UAC, 0.9)
    assert [s.data for s in sends(again)] == [sends(final)[0].data]
    # a second final response from the TU is discarded in Completed
    assert respond(server, new.key, new.request, 500, 1.0) == []


def test_response_retransmissions_absorbed_by_client():
    client, server = layers()
    out = client.send_request(request(), UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    final = respond(server, new.key, new.request, 200, 0.02)
    assert len(of(deliver(final, client, UAS, 0.03), ResponseReceived)) == 1
    assert deliver(final, client, UAS, 0.04) == []  # absorbed in Completed


# ---------------------------------------------------------------- INVITE, non-2xx


def test_invite_rejected_ack_generated_hop_by_hop():
    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-inv-1", routes=["<sip:10.0.0.1;lr>"])
    out = client.send_request(invite, UAS, 0.0)
    key = client_key(invite)
    assert client.state(key) == "Calling"
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    busy = respond(server, new.key, new.request, 486, 0.02)
    assert server.state(new.key) == "Completed"

    got = deliver(busy, client, UAS, 0.03)
    (resp,) = of(got, ResponseReceived)
    assert resp.response.status == 486 and client.state(key) == "Completed"
    (ack_send,) = sends(got)
    ack = parse_message(ack_send.data)
    # 17.1.1.3: same Request-URI, the top Via (same branch), From, Call-ID, CSeq number;
    # To with the response's tag; the Route set of the INVITE.
    assert ack.method == "ACK" and ack.uri_text == invite.uri_text
    assert [str(v) for v in ack.vias] == [str(invite.vias[0])]
    assert ack.cseq.num == 1 and ack.cseq.method == "ACK"
    assert ack.to.tag == "callee" and ack.from_.tag == "caller-tag"
    assert [str(r) for r in ack.routes] == ["<sip:10.0.0.1;lr>"]
    assert ack.call_id == invite.call_id

    # the ACK matches the server transaction (ACK counts as INVITE): Confirmed, absorbed
    assert deliver(got, server, UAC, 0.04) == []
    assert server.state(new.key) == "Confirmed"
    # a retransmitted 486 makes the client re-send the same ACK, not pass it up
    again = deliver(busy, client, UAS, 0.05)
    assert [s.data for s in again] == [ack_send.data]
    # Timer I (T4) and Timer D (32 s) finish both sides
    ev, _ = run_timers(server, 100)
    assert of(ev, Terminated) == [Terminated(new.key)]
    ev, sent = run_timers(client, 100)
    assert sent == [] and of(ev, Terminated) == [Terminated(key)]


def test_a_failure_response_whose_to_does_not_parse_leaves_the_transaction_alone():
    """Building the ACK of a 486 whose To does not parse raised half-way into Completed
    (timers stopped, nothing passed up, no ACK kept), so its retransmission made a Send
    of None (found by the live fuzzer). Now the layer raises before it moves: the caller
    drops the reply and the transaction takes the next, good one."""
    import re

    from kamtool.sip.errors import ParseError

    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-badto-1")
    out = client.send_request(invite, UAS, 0.0)
    key = client_key(invite)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    (busy,) = sends(respond(server, new.key, new.request, 486, 0.02))
    broken = parse_message(
        re.sub(rb"\r\nTo: [^\r]*", b"\r\nTo: <bob@>;tag=x", busy.data), eager=False
    )  # (as the proxy parses: lazily)
    for now in (0.03, 0.04):  # the reply and its retransmission
        with pytest.raises(ParseError):
            client.receive(broken, UAS, now)
        assert client.state(key) == "Calling"
    got = deliver([busy], client, UAS, 0.05)
    assert [e.response.status for e in of(got, ResponseReceived)] == [486]
    assert client.state(key) == "Completed" and all(s.data for s in sends(got))


def test_ack_and_cancel_keep_the_invites_max_forwards():
    """A proxy's own ACK (non-2xx) and CANCEL carry the Max-Forwards of the INVITE it
    forwarded (69 after one hop), as Kamailio tm's build_local; 70 when it had none."""
    from kamtool.sip.transaction_messages import build_cancel

    head = (
        b"INVITE sip:uas@127.0.0.1:5080 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-p-1\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>\r\n"
        b"Call-ID: mf@127.0.0.1\r\nCSeq: 2 INVITE\r\n"
    )
    for mf, expect in ((b"Max-Forwards: 69\r\n", "69"), (b"", "70")):
        invite = parse_message(head + mf + b"Content-Length: 0\r\n\r\n")
        ack = build_ack(invite, make_response(invite, 488, to_tag="b"))
        assert f"\r\nMax-Forwards: {expect}\r\n".encode() in ack
        assert f"\r\nMax-Forwards: {expect}\r\n".encode() in build_cancel(invite).to_bytes()


def test_build_ack_matches_sipp_trace():
    """Section 2 of sip-traces.txt: ACK sipp sent for Kamailio's 407."""
    invite = parse_message(
        b"INVITE sip:1002@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-0\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=12397SIPpTag091\r\n"
        b"To: <sip:1002@127.0.0.1>\r\n"
        b"Call-ID: 1-12397@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:1001@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    challenge = make_response(invite, 407, to_tag="9dd61ff61e802d8e2bef5f14621ef3c2.004a687a")
    assert build_ack(invite, challenge) == (
        b"ACK sip:1002@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-0\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=12397SIPpTag091\r\n"
        b"To: <sip:1002@127.0.0.1>;tag=9dd61ff61e802d8e2bef5f14621ef3c2.004a687a\r\n"
        b"Call-ID: 1-12397@127.0.0.1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


def test_timer_a_doubles_and_timer_b_times_out():
    client = TransactionLayer(FAST)
    invite = request("INVITE")
    client.send_request(invite, UAS, 0.0)
    events, times = run_timers(client, 100)
    # A: T1, 2T1, 4T1 ... without a cap (17.1.1.2), B = 64*T1
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert of(events, TransactionTimeout) == [TransactionTimeout(client_key(invite), "B")]
    assert len(client) == 0


def test_provisional_stops_retransmissions_and_timer_b():
    client, server = layers()
    out = client.send_request(request("INVITE"), UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    deliver(respond(server, new.key, new.request, 180, 0.02), client, UAS, 0.03)
    assert client.state(client_key(new.request)) == "Proceeding"
    assert client.next_deadline() is None  # waits for the TU's Timer C (proxy) or a final


def test_lost_ack_timer_g_then_timer_h():
    _, server = layers()
    invite = request("INVITE")
    (new,) = of(server.receive(invite, UAC, 0.0), RequestReceived)
    final = respond(server, new.key, invite, 603, 0.0)
    events, times = run_timers(server, 100)
    # G: T1 doubling up to T2, until H = 64*T1 (17.2.1)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(s.data == sends(final)[0].data for s in sends(events))
    assert of(events, TransactionTimeout) == [TransactionTimeout(new.key, "H")]
    assert of(events, Terminated) == [Terminated(new.key)]


def test_server_sends_100_trying_when_tu_is_slow():
    server = TransactionLayer(FAST)  # trying_after=0.2 (17.2.1)
    invite = request("INVITE")
    (new,) = of(server.receive(invite, UAC, 0.0), RequestReceived)
    assert server.next_deadline() == pytest.approx(0.2)
    (trying,) = sends(server.handle_timer(0.2))
    resp = parse_message(trying.data)
    assert resp.status == 100 and resp.to.tag is None and resp.cseq.method == "INVITE"
    # an INVITE retransmission gets the 100 again
    assert [s.data for s in sends(server.receive(invite, UAC, 0.3))] == [trying.data]
    # a TU that answers at once gets no automatic 100
    fast = TransactionLayer(FAST)
    (n2,) = of(fast.receive(invite, UAC, 0.0), RequestReceived)
    respond(fast, n2.key, invite, 180, 0.1)
    assert [parse_message(s.data).status for s in sends(run_timers(fast, 0.5)[0])] == []
    immediate = TransactionLayer(FAST, trying_after=0)
    assert parse_message(sends(immediate.receive(invite, UAC, 0.0))[0].data).status == 100


# ---------------------------------------------------------------- INVITE, 2xx (RFC 6026)


def test_2xx_accepted_states_rfc6026():
    client, server = layers()
    invite = request("INVITE")
    key = client_key(invite)
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    ok = respond(server, new.key, new.request, 200, 0.02)
    assert server.state(new.key) == "Accepted"
    # a retransmitted INVITE is absorbed in Accepted: no 2xx from the transaction itself
    assert deliver(out, server, UAC, 0.03) == []
    # the TU retransmits its 2xx through the transaction (RFC 6026 section 7.1)
    again = respond(server, new.key, new.request, 200, 0.5)
    assert [s.data for s in again] == [s.data for s in ok]

    first = deliver(ok, client, UAS, 0.04)
    assert [e.response.status for e in of(first, ResponseReceived)] == [200]
    assert sends(first) == []  # no ACK for 2xx from the transaction: that's the TU's
    assert client.state(key) == "Accepted"
    # every 2xx retransmission still goes to the TU (it re-sends its ACK)
    second = deliver(again, client, UAS, 0.51)
    assert [(e.key, e.response.status) for e in of(second, ResponseReceived)] == [(key, 200)]

    # the ACK of a 2xx is a new transaction-less request for the server's TU
    ack = request("ACK", branch="z9hG4bK-ack-2xx", to_tag="callee")
    (ack_in,) = server.receive(ack, UAC, 0.6)
    assert isinstance(ack_in, RequestReceived) and ack_in.key is None

    # Timer M / L end both; later 2xx are strays for the core (18.1.2)
    ev, _ = run_timers(client, 100)
    assert of(ev, Terminated) == [Terminated(key)]
    ev, _ = run_timers(server, 100)
    assert of(ev, Terminated) == [Terminated(new.key)]
    (stray,) = deliver(again, client, UAS, 40)
    assert isinstance(stray, ResponseReceived) and stray.key is None


# ---------------------------------------------------------------- CANCEL


def test_cancel_matches_invite_and_487():
    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-c1")
    ikey = client_key(invite)
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)
    deliver(respond(server, new.key, new.request, 180, 0.02), client, UAS, 0.03)

    cancel_out = client.cancel(ikey, 1.0)
    (cancel_send,) = sends(cancel_out)
    cancel = parse_message(cancel_send.data)
    assert cancel.method == "CANCEL" and cancel.cseq.num == 1 and cancel.cseq.method == "CANCEL"
    assert cancel.vias[0].branch == "z9hG4bK-c1" and cancel.to.tag is None
    assert client.state(("z9hG4bK-c1", "CANCEL")) == "Trying"
    assert client.cancel(ikey, 1.1) == []  # already cancelling

    got = deliver(cancel_out, server, UAC, 1.01)
    (cancel_in,) = of(got, RequestReceived)
    assert cancel_in.cancels == new.key and cancel_in.key != new.key  # its own transaction
    ok = respond(server, cancel_in.key, cancel_in.request, 200, 1.02)
    terminated = respond(server, new.key, new.request, 487, 1.02)
    r1 = of(deliver(ok, client, UAS, 1.03), ResponseReceived)
    assert [(e.key[1], e.response.status) for e in r1] == [("CANCEL", 200)]
    r2 = deliver(terminated, client, UAS, 1.03)
    assert [e.response.status for e in of(r2, ResponseReceived)] == [487]
    assert parse_message(sends(r2)[0].data).method == "ACK"


def test_cancel_before_provisional_is_held():
    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-c2")
    ikey = client_key(invite)
    out = client.send_request(invite, UAS, 0.0)
    assert client.cancel(ikey, 0.1) == []  # 9.1: not before a provisional
    (new,) = of(deliver(out, server, UAC, 0.2), RequestReceived)
    got = deliver(respond(server, new.key, new.request, 183, 0.3), client, UAS, 0.31)
    assert [parse_message(s.data).method for s in sends(got)] == ["CANCEL"]
    # and a final response before any provisional drops the held CANCEL
    invite2 = request("INVITE", branch="z9hG4bK-c3")
    out = client.send_request(invite2, UAS, 0.0)
    client.cancel(client_key(invite2), 0.1)
    (n2,) = of(deliver(out, server, UAC, 0.2), RequestReceived)
    got = deliver(respond(server, n2.key, n2.request, 486, 0.3), client, UAS, 0.31)
    assert [parse_message(s.data).method for s in sends(got)] == ["ACK"]


def test_cancel_without_invite_matches_nothing():
    _, server = layers()
    (ev,) = server.receive(request("CANCEL", branch="z9hG4bK-none"), UAC, 0.0)
    assert isinstance(ev, RequestReceived) and ev.cancels is None  # TU answers 481


# ---------------------------------------------------------------- RFC 2543 matching


def test_rfc2543_matching_without_magic_cookie():
    _, server = layers()
    invite = request("INVITE", branch="old-style-1")
    (new,) = of(server.receive(invite, UAC, 0.0), RequestReceived)
    assert new.key[0] == "rfc2543"
    assert server.receive(request("INVITE", branch="old-style-1"), UAC, 0.1) == []  # retrans
    # another CSeq is another transaction
    other = server.receive(request("INVITE", branch="old-style-1", cseq=2), UAC, 0.1)
    assert of(other, RequestReceived)
    # a CANCEL matches by the same fields
    (cancel,) = server.receive(request("CANCEL", branch="old-style-1"), UAC, 0.2)
    assert cancel.cancels == new.key
    respond(server, new.key, invite, 486, 0.3, tag="t486")
    # ACK: matched only with the To tag of the response sent
    assert server.receive(request("ACK", branch="old-style-1", to_tag="nope"), UAC, 0.4) != []
    assert server.state(new.key) == "Completed"
    assert server.receive(request("ACK", branch="old-style-1", to_tag="t486"), UAC, 0.4) == []
    assert server.state(new.key) == "Confirmed"


def test_branch_and_sent_by_must_both_match():
    _, server = layers()
    (a,) = of(server.receive(request(branch="z9hG4bK-same"), UAC, 0.0), RequestReceived)
    # same branch from another sent-by is another transaction (17.2.3)
    b = server.receive(request(branch="z9hG4bK-same", via_host="10.0.0.9:5060"), UAC, 0.0)
    assert of(b, RequestReceived)[0].key != a.key
    # sent-by host compares case-insensitively, absent port means 5060
    c = server.receive(request(branch="z9hG4bK-p", via_host="Host.Example"), UAC, 0.0)
    d = server.receive(request(branch="z9hG4bK-p", via_host="host.example:5060"), UAC, 0.0)
    assert of(c, RequestReceived) and d == []


# ---------------------------------------------------------------- transports


def test_reliable_transport_has_no_retransmissions():
    tcp_c, tcp_s = Peer("tcp", "127.0.0.1", 40000), Peer("tcp", "127.0.0.1", 5060)
    client, server = layers()
    req = request(transport="TCP")
    out = client.send_request(req, tcp_s, 0.0)
    assert client.next_deadline() == pytest.approx(32.0)  # only Timer F
    (new,) = of(deliver(out, server, tcp_c, 0.0), RequestReceived)
    final = respond(server, new.key, new.request, 200, 0.0)
    assert sends(final)[0].destination == tcp_c  # back over the connection
    # J = 0 and K = 0 over TCP: both sides finish at once
    assert of(final, Terminated) == [Terminated(new.key)]
    got = deliver(final, client, tcp_s, 0.0)
    assert [type(e) for e in got] == [ResponseReceived, Terminated]
    assert len(client) == len(server) == 0


def test_response_destination_rules():
    _, server = layers()
    nat = Peer("udp", "198.51.100.7", 40123)
    (a,) = of(server.receive(request(branch="z9hG4bK-r1"), nat, 0.0), RequestReceived)
    assert sends(respond(server, a.key, a.request, 200, 0.0))[0].destination == nat  # rport
    plain = request(branch="z9hG4bK-r2", rport=False, via_host="198.51.100.7:5080")
    (b,) = of(server.receive(plain, nat, 0.0), RequestReceived)
    dest = sends(respond(server, b.key, b.request, 200, 0.0))[0].destination
    assert dest == Peer("udp", "198.51.100.7", 5080)  # source address, sent-by port
    override = Peer("udp", "192.0.2.1", 5999)
    (c,) = of(server.receive(request(branch="z9hG4bK-r3"), nat, 0.0), RequestReceived)
    assert (
        sends(server.send_response(c.key, make_response(c.request, 200), 0.0, override))[
            0
        ].destination
        == override
    )


def test_transport_error_terminates():
    client = TransactionLayer(FAST)
    req = request()
    client.send_request(req, UAS, 0.0)
    ev = client.transport_error(client_key(req), 0.1, "ECONNREFUSED")
    assert ev == [TransportError(client_key(req), "ECONNREFUSED"), Terminated(client_key(req))]
    assert client.transport_error(client_key(req), 0.2) == [] and len(client) == 0


def test_api_misuse():
    client = TransactionLayer(FAST)
    with pytest.raises(ValueError):
        client.send_request(request("ACK"), UAS, 0.0)
    client.send_request(request(), UAS, 0.0)
    with pytest.raises(ValueError):
        client.send_request(request(), UAS, 0.0)  # same branch twice
    assert client.send_response(("nope",), make_response(request(), 200), 0.0) == []


def test_shrunk_timers():
    t = TimerConfig(t1=0.01, t2=0.04, t4=0.05)
    assert (t.b, t.f, t.h, t.j_for(False), t.k_for(False), t.i_for(True)) == (
        0.64, 0.64, 0.64, 0.64, 0.05, 0.0,
    )  # fmt: skip


# ---------------------------------------------------------------- lossy wire, property


def _answering_tu(layer: TransactionLayer, wire: Wire, status: int):
    """A server TU answering every new request (not ACK/CANCEL) with ``status`` at once."""

    def tu(events):
        out = []
        for e in of(events, RequestReceived):
            if e.key is not None and e.request.method not in ("ACK", "CANCEL"):
                answer = make_response(e.request, status, to_tag="uas")
                out.extend(layer.send_response(e.key, answer, wire.now))
        return out

    return tu


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["INVITE", "OPTIONS"]),
    status=st.sampled_from([200, 404]),
    fates=st.lists(st.integers(0, 2), min_size=1, max_size=30),
)
def test_any_loss_or_duplication_pattern(method, status, fates):
    """Whatever the wire loses or duplicates, the TU sees each request once, the client at
    most one final response (plus 2xx retransmissions for INVITE), or else a timeout; and
    both layers end empty."""
    client, server = TransactionLayer(FAST), TransactionLayer(FAST, trying_after=None)
    wire = Wire(client, server, fate=lambda n: fates[n - 1] if n <= len(fates) else 1)
    wire.push(client.send_request(request(method), UAS, 0.0), "server")
    wire.run(_answering_tu(server, wire, status))

    new_requests = [e for e in of(wire.server_events, RequestReceived) if e.key is not None]
    finals = [e for e in of(wire.client_events, ResponseReceived) if e.response.status >= 200]
    timeouts = of(wire.client_events, TransactionTimeout)
    assert len(new_requests) <= 1
    if timeouts:
        # a final that arrives after the timeout has no transaction left (key None, §18.1.2:
        # the core decides); the transaction itself delivered none
        assert [e for e in finals if e.key is not None] == [] and timeouts[0].timer in ("B", "F")
    else:
        assert finals and all(e.response.status == status for e in finals)
        assert len({e.key for e in finals}) == 1
        if not (method == "INVITE" and status == 200):
            assert len(finals) == 1
    assert len(client) == 0 and len(server) == 0


# ---------------------------------------------------------------- proxy knobs, introspection


def test_fr_timer_replaces_64_t1_like_kamailio():
    """The reference config's fr_timer=5s: 408 after 5 s with no answer (sip-traces.txt 4)."""
    client = TransactionLayer(TimerConfig(fr_timer=5.0))
    invite = request("INVITE")
    client.send_request(invite, UAS, 0.0)
    events, _ = run_timers(client, 100)
    (timeout,) = of(events, TransactionTimeout)
    assert timeout.timer == "B" and client.next_deadline() is None
    assert TimerConfig(fr_timer=5.0).f == TimerConfig(fr_timer=5.0).h == 5.0


def test_set_timeouts_restarts_only_the_running_timer():
    """t_set_fr on a running branch (a proxy's reply route): before a provisional it
    restarts Timer B from now, after one Timer C; the other is not started."""
    client = TransactionLayer(TimerConfig(c=180.0, fr_timer=30.0))
    server = TransactionLayer(FAST, trying_after=None)
    invite = request("INVITE", branch="z9hG4bK-retime")
    key = client_key(invite)
    out = client.send_request(invite, UAS, 0.0)
    client.set_timeouts(key, 1.0, None, 20.0)  # C not running: only remembered
    assert client.next_deadline() == 0.5  # (A: the retransmission)
    client.set_timeouts(key, 2.0, 4.0, None)
    (new,) = of(deliver(out, server, UAC, 0.0), RequestReceived)
    deliver(respond(server, new.key, new.request, 180, 3.0), client, UAS, 3.0)
    assert client.next_deadline() == 23.0  # C from the 180 with the remembered 20 s
    client.set_timeouts(key, 5.0, 1.0, 2.0)  # B stopped by the 180: only C moves
    assert client.next_deadline() == 7.0
    assert client.handle_timer(7.0) == [TransactionTimeout(key, "C")]
    client.set_timeouts(("z9hG4bK-gone", "INVITE"), 8.0, 1.0, 1.0)  # no such branch: nothing
    silent = request("INVITE", branch="z9hG4bK-retime-b")
    client.send_request(silent, UAS, 10.0)
    client.set_timeouts(client_key(silent), 11.0, 4.0, None)  # B: 30 s -> 4 s from 11 s
    events, _ = run_timers(client, 14.9)
    assert not of(events, TransactionTimeout)
    events, _ = run_timers(client, 15.0)
    assert of(events, TransactionTimeout) == [TransactionTimeout(client_key(silent), "B")]


def test_timer_c_for_proxies():
    client = TransactionLayer(TimerConfig(c=180.0))
    server = TransactionLayer(FAST, trying_after=None)
    invite = request("INVITE", branch="z9hG4bK-timer-c")
    key = client_key(invite)
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.0), RequestReceived)
    deliver(respond(server, new.key, new.request, 180, 10.0), client, UAS, 10.0)
    assert client.next_deadline() == 190.0  # C from the first provisional
    deliver(respond(server, new.key, new.request, 183, 100.0), client, UAS, 100.0)
    assert client.next_deadline() == 280.0  # restarted by each provisional
    ev = client.handle_timer(280.0)
    assert ev == [TransactionTimeout(key, "C")] and client.state(key) == "Proceeding"
    # the proxy cancels the branch; if the callee never answers, Timer B ends it
    assert [parse_message(s.data).method for s in sends(client.cancel(key, 280.0))] == ["CANCEL"]
    events, _ = run_timers(client, 1000)
    assert TransactionTimeout(key, "B") in events and client.state(key) is None
    # a UA (c=None) has no Timer C
    ua = TransactionLayer(FAST)
    out = ua.send_request(request("INVITE", branch="z9hG4bK-ua"), UAS, 0.0)
    (n2,) = of(deliver(out, server, UAC, 0.0), RequestReceived)
    deliver(respond(server, n2.key, n2.request, 180, 0.1), ua, UAS, 0.1)
    assert ua.next_deadline() is None


def test_request_lookup_and_counters():
    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-cnt")
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.0), RequestReceived)
    assert server.request(new.key) is new.request and client.request(client_key(invite)) is invite
    deliver(respond(server, new.key, new.request, 180, 0.0), client, UAS, 0.0)
    deliver(respond(server, new.key, new.request, 486, 0.0), client, UAS, 0.0)
    c = server.counters()
    assert (c["current"], c["waiting"], c["created"], c["rpl_sent"], c["1xx"], c["4xx"]) == (
        1, 1, 1, 2, 1, 1,
    )  # fmt: skip
    assert client.counters()["rpl_received"] == 2
    run_timers(server, 100)
    run_timers(client, 100)
    assert server.counters()["freed"] == 1 and server.counters()["current"] == 0
    assert server.request(new.key) is None


# ---------------------------------------------------------------- random operation sequences

_BRANCHES = ["z9hG4bK-a", "z9hG4bK-b", "old-2543"]
_ops = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(["INVITE", "OPTIONS"]), st.integers(0, 2)),
    st.tuples(
        st.just("recv_req"), st.sampled_from(["INVITE", "BYE", "ACK", "CANCEL"]), st.integers(0, 2)
    ),
    st.tuples(st.just("respond"), st.integers(0, 5), st.sampled_from([100, 180, 200, 404, 603])),
    st.tuples(
        st.just("recv_resp"),
        st.sampled_from(["INVITE", "OPTIONS", "CANCEL"]),
        st.integers(0, 2),
        st.sampled_from([100, 183, 200, 486]),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 2)),
    st.tuples(st.just("terr"), st.integers(0, 5)),
    st.tuples(st.just("time"), st.floats(0, 40)),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_ops, max_size=40))
def test_random_operation_sequences_keep_invariants(ops):
    """Any sequence of network input, TU calls and time passing: nothing raises (but the
    documented ValueError for a reused branch), no Terminated transaction stays in a table,
    every transaction ends once time runs on, except those waiting for the TU/peer."""
    layer = TransactionLayer(FAST)
    now = 0.0
    server_keys: list = []
    terminated: set = set()
    for op in ops:
        kind = op[0]
        if kind == "send":
            try:
                ev = layer.send_request(request(op[1], branch=_BRANCHES[op[2]]), UAS, now)
            except ValueError:
                continue
        elif kind == "recv_req":
            tag = "callee" if op[1] == "ACK" else None
            ev = layer.receive(request(op[1], branch=_BRANCHES[op[2]], to_tag=tag), UAC, now)
            server_keys.extend(e.key for e in of(ev, RequestReceived) if e.key is not None)
        elif kind == "respond":
            if not server_keys:
                continue
            key = server_keys[op[1] % len(server_keys)]
            req = layer.request(key)
            if req is None:
                continue
            ev = respond(layer, key, req, op[2], now)
        elif kind == "recv_resp":
            req = request(op[1], branch=_BRANCHES[op[2]])
            ev = layer.receive(make_response(req, op[3], to_tag="x"), UAS, now)
        elif kind == "cancel":
            ev = layer.cancel((_BRANCHES[op[1]], "INVITE"), now)
        elif kind == "terr":
            keys = server_keys + [(b, m) for b in _BRANCHES for m in ("INVITE", "OPTIONS")]
            ev = layer.transport_error(keys[op[1] % len(keys)], now)
        else:
            now += op[1]
            ev = layer.handle_timer(now)
        terminated.update(e.key for e in of(ev, Terminated))
        for table in (layer._client, layer._server):
            assert all(tx.state != "Terminated" for tx in table.values())
        d = layer.next_deadline()
        assert d is None or d >= now - 40  # nothing overdue by more than one step
    layer.handle_timer(now + 10_000)
    for table in (layer._client, layer._server):
        # only a transaction waiting for its TU or peer, with no timer, may remain
        assert all(tx.state in ("Trying", "Proceeding") and not tx.timers for tx in table.values())
    assert layer.next_deadline() is None


def test_uas_2xx_retransmission_until_ack():
    """13.3.1.4 on request: the 2xx goes out again (T1 doubling to T2) until the ACK."""
    client, server = layers()
    invite = request("INVITE", branch="z9hG4bK-uas2xx")
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.0), RequestReceived)
    ok = make_response(new.request, 200, to_tag="callee")
    first = server.send_response(new.key, ok, 0.0, retransmit_2xx=True)
    events, times = run_timers(server, 4.0)
    assert times == [0.5, 1.5, 3.5] and {s.data for s in sends(events)} == {first[0].data}
    # the ACK (new branch) stops it and still reaches the TU
    ack = request("ACK", branch="z9hG4bK-ack-of-2xx", to_tag="callee")
    assert server.awaiting_ack(new.key)
    (ack_in,) = server.receive(ack, UAC, 4.0)
    assert not server.awaiting_ack(new.key)
    assert isinstance(ack_in, RequestReceived) and ack_in.key is None
    events, times = run_timers(server, 100)
    assert times == [] and of(events, TransactionTimeout) == []
    assert of(events, Terminated) == [Terminated(new.key)]  # Timer L


def test_uas_2xx_without_ack_times_out():
    _, server = layers()
    invite = request("INVITE", branch="z9hG4bK-noack")
    (new,) = of(server.receive(invite, UAC, 0.0), RequestReceived)
    server.send_response(new.key, make_response(invite, 200, to_tag="x"), 0.0, retransmit_2xx=True)
    events, times = run_timers(server, 100)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert of(events, TransactionTimeout) == [TransactionTimeout(new.key, "ACK")]
    assert server._awaiting_ack == {} and len(server) == 0


# ---------------------------------------------------------------- stateless first (proxy)


def test_receive_without_create_lets_the_tu_choose_stateful_or_stateless():
    """A proxy answers some requests statelessly (sl) and makes transactions only for those
    it relays (t_newtran): create=False reports new requests without keeping state."""
    _, server = layers()
    invite = request("INVITE", branch="z9hG4bK-sl")
    (new,) = server.receive(invite, UAC, 0.0, create=False)
    assert isinstance(new, RequestReceived) and new.key is None and len(server) == 0
    # nothing kept: the same request again is new again (the TU answers it again, as sl does)
    assert of(server.receive(invite, UAC, 0.1, create=False), RequestReceived)
    key, events = server.new_server(invite, UAC, 0.2)
    assert of(events, RequestReceived)[0].key == key and server.state(key) == "Proceeding"
    with pytest.raises(ValueError):
        server.new_server(invite, UAC, 0.2)
    # now a retransmission is absorbed and answered with the last response
    respond(server, key, invite, 180, now=0.3)
    again = server.receive(invite, UAC, 0.4, create=False)
    assert [parse_message(s.data).status for s in sends(again)] == [180]
    assert not of(again, RequestReceived)
    # a CANCEL names the INVITE it cancels, and gets no transaction of its own either
    (cancel,) = server.receive(request("CANCEL", branch="z9hG4bK-sl"), UAC, 0.5, create=False)
    assert cancel.key is None and cancel.cancels == key and len(server) == 1
    # the ACK of a non-2xx final is absorbed; the ACK of a 2xx (new branch) comes through
    respond(server, key, invite, 486, now=0.6)
    ack = request("ACK", branch="z9hG4bK-sl", to_tag="callee")
    assert server.receive(ack, UAC, 0.7, create=False) == []
    assert server.state(key) == "Confirmed"
    (end_to_end,) = server.receive(request("ACK", branch="z9hG4bK-2"), UAC, 0.8, create=False)
    assert end_to_end.key is None
