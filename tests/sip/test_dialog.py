"""Dialogs (RFC 3261 section 12): a UAC and a UAS set up and end a call in memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kamtool.sip.dialog import Dialog, DialogError, DialogState
from kamtool.sip.events import RequestReceived, ResponseReceived, Terminated
from kamtool.sip.message import make_response
from kamtool.sip.parser import parse_message
from kamtool.sip.transaction import TransactionLayer, client_key

from .sipnet import FAST, UAC, UAS, deliver, of, request, sends

# Two record-routing proxies: the INVITE went UAC -> P1 -> P2 -> UAS, each prepending.
RR = ["<sip:p2.example.net;lr>", "<sip:p1.example.net;lr>"]


def invite_with_rr(**kw):
    req = request("INVITE", branch="z9hG4bK-dlg-1", **kw)
    req.headers.add("Contact", "<sip:1001@127.0.0.1:5070>")
    for rr in RR:
        req.headers.add("Record-Route", rr)
    return req


def answer(req, status, tag="uas-tag"):
    resp = make_response(req, status, to_tag=tag, copy_record_route=True)
    resp.headers.add("Contact", "<sip:1002@127.0.0.1:5060;transport=udp>")
    return resp


def test_call_set_up_and_torn_down_both_ways():
    client = TransactionLayer(FAST)
    server = TransactionLayer(FAST, trying_after=None)
    invite = invite_with_rr()
    out = client.send_request(invite, UAS, 0.0)
    (new,) = of(deliver(out, server, UAC, 0.01), RequestReceived)

    uas = Dialog.from_uas(new.request, local_tag="uas-tag")
    assert uas.state is DialogState.EARLY and not uas.is_uac
    assert uas.route_set == tuple(RR)  # 12.1.1: in order
    assert uas.remote_target == "sip:1001@127.0.0.1:5070" and uas.remote_seq == 1

    ringing = server.send_response(new.key, answer(new.request, 180), 0.02)
    (r180,) = of(deliver(ringing, client, UAS, 0.03), ResponseReceived)
    uac = Dialog.from_uac(invite, r180.response)
    assert uac.state is DialogState.EARLY

    ok = server.send_response(new.key, answer(new.request, 200), 0.04)
    uas.confirm()
    (r200,) = of(deliver(ok, client, UAS, 0.05), ResponseReceived)
    uac.receive_response(r200.response)
    assert uac.state is DialogState.CONFIRMED is uas.state
    assert uac.id == ("call-1@127.0.0.1", "caller-tag", "uas-tag")
    assert uas.id == ("call-1@127.0.0.1", "uas-tag", "caller-tag")
    assert uac.route_set == tuple(reversed(RR))  # 12.1.2: UAC reverses
    assert uac.remote_target == "sip:1002@127.0.0.1:5060;transport=udp"
    assert uac.next_hop() == "sip:p1.example.net;lr"

    # ACK of the 2xx: built by the dialog with the INVITE's CSeq, no transaction
    ack = uac.create_request("ACK", via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ack", cseq=1)
    assert ack.cseq.num == 1 and uac.local_seq == 1
    (ack_in,) = server.receive(parse_message(ack.to_bytes()), UAC, 0.06)
    assert ack_in.key is None and uas.matches(ack_in.request)
    assert uas.receive_request(ack_in.request) is None

    # the callee hangs up: BYE from the UAS side (route set in order, CSeq starts fresh)
    bye = uas.create_request("BYE", via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-bye-uas")
    assert bye.uri_text == "sip:1001@127.0.0.1:5070" and bye.cseq.num == 1
    assert [str(r) for r in bye.routes] == RR
    assert bye.from_.tag == "uas-tag" and bye.to.tag == "caller-tag"
    bye_out = server.send_request(bye, UAC, 1.0)
    (bye_in,) = of(deliver(bye_out, client, UAS, 1.01), RequestReceived)
    assert uac.matches(bye_in.request)
    assert uac.receive_request(bye_in.request) is None
    assert uac.state is DialogState.TERMINATED
    bye_ok = client.send_response(bye_in.key, make_response(bye_in.request, 200), 1.02)
    (done,) = of(deliver(bye_ok, server, UAC, 1.03), ResponseReceived)
    assert done.key == client_key(bye) and uas.matches(done.response)
    uas.receive_response(done.response)
    assert uas.state is DialogState.TERMINATED
    # a late request in a terminated dialog: 481
    assert uac.receive_request(bye_in.request) == 481


def test_uac_bye_matches_kamailio_trace():
    """sip-traces.txt section 2: sipp's BYE after the 200 OK relayed by Kamailio."""
    invite = parse_message(
        b"INVITE sip:1002@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-4\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=12397SIPpTag091\r\nTo: <sip:1002@127.0.0.1>\r\n"
        b"Call-ID: 1-12397@127.0.0.1\r\nCSeq: 2 INVITE\r\nContact: <sip:1001@127.0.0.1:5070>\r\n"
        b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    ok = parse_message(
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-4\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=12397SIPpTag091\r\n"
        b"To: <sip:1002@127.0.0.1>;tag=12379SIPpTag011\r\n"
        b"Call-ID: 1-12397@127.0.0.1\r\nCSeq: 2 INVITE\r\n"
        b"Record-Route: <sip:127.0.0.1;lr;ftag=12397SIPpTag091;did=6b4.627>\r\n"
        b"Contact: <sip:127.0.0.1:5064;transport=UDP>\r\nContent-Length: 0\r\n\r\n"
    )
    dlg = Dialog.from_uac(invite, ok)
    ack = dlg.create_request("ACK", via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-9",
                             cseq=2)  # fmt: skip
    bye = dlg.create_request("BYE", via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-12397-1-11")
    for msg, start, cseq in ((ack, b"ACK", b"2 ACK"), (bye, b"BYE", b"3 BYE")):
        assert msg.to_bytes() == (
            start + b" sip:127.0.0.1:5064;transport=UDP SIP/2.0\r\n"
            b"Via: " + str(msg.vias[0]).encode() + b"\r\n"
            b"From: <sip:1001@127.0.0.1>;tag=12397SIPpTag091\r\n"
            b"To: <sip:1002@127.0.0.1>;tag=12379SIPpTag011\r\n"
            b"Call-ID: 1-12397@127.0.0.1\r\n"
            b"CSeq: " + cseq + b"\r\n"
            b"Route: <sip:127.0.0.1;lr;ftag=12397SIPpTag091;did=6b4.627>\r\n"
            b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )


def test_out_of_order_cseq_gets_500():
    dlg = Dialog.from_uas(invite_with_rr(cseq=5), local_tag="t", confirmed=True)
    reinvite = request("INVITE", cseq=7, to_tag="t", branch="z9hG4bK-re")
    reinvite.headers.add("Contact", "<sip:1001@192.0.2.9:5070>")
    assert dlg.receive_request(reinvite) is None and dlg.remote_seq == 7
    assert dlg.remote_target == "sip:1001@192.0.2.9:5070"  # target refresh (12.2.2)
    old = request("INFO", cseq=6, to_tag="t")
    assert dlg.receive_request(old) == 500 and dlg.remote_seq == 7
    # ACK and CANCEL carry the INVITE's number and are not counted
    assert dlg.receive_request(request("ACK", cseq=7, to_tag="t")) is None
    assert dlg.receive_request(request("INFO", cseq=8, to_tag="t")) is None


def test_strict_route_set():
    dlg = Dialog(
        call_id="c",
        local_tag="a",
        remote_tag="b",
        local_party="<sip:a@x>;tag=a",
        remote_party="<sip:b@y>;tag=b",
        remote_target="sip:b@192.0.2.5",
        route_set=("<sip:strict.example.net;maddr=10.0.0.1>", "<sip:p2.example.net;lr>"),
        local_seq=4,
    )
    bye = dlg.create_request("BYE", via="SIP/2.0/UDP h;branch=z9hG4bK-s")
    # 12.2.1.1: first (strict) route as Request-URI, remote target appended as last Route
    assert bye.uri_text == "sip:strict.example.net;maddr=10.0.0.1"
    assert [str(r) for r in bye.routes] == ["<sip:p2.example.net;lr>", "<sip:b@192.0.2.5>"]
    assert bye.cseq.num == 5 and dlg.local_seq == 5


def test_no_route_set_and_matching():
    dlg = Dialog.from_uac(invite_with_rr(), answer(invite_with_rr(), 200))
    dlg.route_set = ()
    bye = dlg.create_request("BYE", via="SIP/2.0/UDP h;branch=z9hG4bK-n")
    assert bye.uri_text == dlg.remote_target and bye.routes == []
    other = request("BYE", to_tag="caller-tag", from_tag="someone-else")
    assert not dlg.matches(other)
    assert not dlg.matches(request("BYE", to_tag="caller-tag", from_tag="uas-tag", call_id="x"))
    assert dlg.matches(request("BYE", to_tag="caller-tag", from_tag="uas-tag"))


def test_early_dialog_ends_on_error_and_bad_inputs():
    invite = invite_with_rr()
    dlg = Dialog.from_uac(invite, answer(invite, 183))
    dlg.receive_response(answer(invite, 486))
    assert dlg.state is DialogState.TERMINATED
    with pytest.raises(DialogError):
        dlg.create_request("INFO", via="SIP/2.0/UDP h;branch=z9hG4bK-x")
    with pytest.raises(DialogError):
        Dialog.from_uac(invite, make_response(invite, 100))  # no tag, 100
    no_contact = make_response(invite, 200, to_tag="t")
    with pytest.raises(DialogError):
        Dialog.from_uac(invite, no_contact)
    with pytest.raises(DialogError):
        Dialog.from_uas(request("INVITE", to_tag="already"), local_tag="t")
    confirmed = Dialog.from_uac(invite, answer(invite, 200))
    with pytest.raises(DialogError):
        confirmed.create_request("ACK", via="SIP/2.0/UDP h;branch=z9hG4bK-y")  # no cseq
    confirmed.receive_response(answer(request("INFO", cseq=2), 481))
    assert confirmed.state is DialogState.TERMINATED


def test_terminated_event_after_bye_transaction():
    """The BYE's own transaction ends with Timer K/J, independently of the dialog."""
    client = TransactionLayer(FAST)
    dlg = Dialog.from_uac(invite_with_rr(), answer(invite_with_rr(), 200))
    bye = dlg.create_request("BYE", via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-b2")
    out = client.send_request(bye, UAS, 0.0)
    assert sends(out)[0].destination == UAS
    ev = client.receive(make_response(parse_message(out[0].data), 200), UAS, 0.1)
    assert of(ev, ResponseReceived)
    ev = client.handle_timer(client.next_deadline())
    assert of(ev, Terminated) == [Terminated(client_key(bye))]


@given(st.lists(st.tuples(st.sampled_from(["INFO", "ACK", "UPDATE"]), st.integers(1, 50))))
def test_remote_cseq_never_goes_backwards(requests):
    dlg = Dialog.from_uas(invite_with_rr(cseq=1), local_tag="t", confirmed=True)
    highest = 1
    for method, num in requests:
        verdict = dlg.receive_request(request(method, cseq=num, to_tag="t"))
        if method == "ACK":
            assert verdict is None  # carries the INVITE's number, never counted
        elif num < highest:
            assert verdict == 500
        else:
            assert verdict is None
            highest = num
        assert dlg.remote_seq == highest
