"""Topology hiding (Kamailio's topoh semantics): a call with Record-Route through an
edge proxy, messages built and passed by hand, checked for what each side can see."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kamtool.sip import parse_message
from kamtool.sip.errors import ParseError
from kamtool.sip.headers import NameAddr, Via
from kamtool.sip.message import make_response
from kamtool.sip.topoh import TopoHiding
from kamtool.sip.uri import SipURI

EDGE = "192.0.2.10"  # the edge proxy; inside = 10.0.0.0/8, outside = 203.0.113.0/24
INSIDE = re.compile(r"10\.0\.0\.\d")
OUTSIDE = re.compile(r"203\.0\.113\.\d")
TH = TopoHiding("secret-key", mask_ip="192.0.2.200", mask_callid=True)


def own(uri: SipURI) -> bool:
    return uri.host == EDGE


def wire(msg) -> str:
    """What goes on the wire, re-parsed as the receiver sees it."""
    data = msg.to_bytes()
    return parse_message(data), data.decode()


INVITE = (
    "INVITE sip:bob@203.0.113.5 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1\r\n"
    "Via: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK-a;rport=5070;received=10.0.0.1\r\n"
    "Record-Route: <sip:10.0.0.2;lr>\r\n"
    'From: "Alice" <sip:alice@example.com>;tag=atag\r\nTo: <sip:bob@example.net>\r\n'
    "Call-ID: c0ffee@10.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 69\r\n"
    'Contact: <sip:alice@10.0.0.1:5070;transport=tcp>;+sip.instance="<urn:x>"\r\n'
    "Content-Length: 0\r\n\r\n"
)


def edge_forwards(req, downstream: bool, record_route: bool = True):
    req.prepend_via(Via("UDP", EDGE, 5060, {"branch": f"z9hG4bK-e-{req.cseq.num}"}))
    if record_route:
        req.prepend_record_route(NameAddr(SipURI(EDGE, params={"lr": None, "ftag": "atag"})))
    TH.mask_request(req, own, downstream)
    return wire(req)


def test_a_call_through_the_edge_hides_the_inside_and_still_routes():
    # 1. Alice's INVITE (through the inside proxy 10.0.0.2) leaves the edge for Bob
    inv = parse_message(INVITE.encode())
    assert TH.direction(inv, own) is True
    bob_inv, text = edge_forwards(inv, downstream=True)
    assert not INSIDE.search(text), text
    assert bob_inv.call_id.startswith("!!:") and bob_inv.vias[0].host == EDGE
    assert [str(r.uri.host) for r in bob_inv.record_routes] == [EDGE, "192.0.2.200"]
    assert bob_inv.contacts[0].params["+sip.instance"] == '"<urn:x>"'

    # 2. Bob answers; the edge restores its Vias and Call-ID and sends it inside
    ok = make_response(
        bob_inv,
        200,
        to_tag="btag",
        copy_record_route=True,
        headers=[("Contact", "<sip:bob@203.0.113.5:5080>")],
    )
    ok, _ = wire(ok)
    TH.unmask_reply(ok, downstream=True)
    ok.pop_via()
    TH.mask_reply(ok, own, downstream=True)
    alice_ok, text = wire(ok)
    assert not OUTSIDE.search(text), text
    assert alice_ok.call_id == "c0ffee@10.0.0.1"
    assert [str(v) for v in alice_ok.vias] == [
        "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1",
        "SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK-a;rport=5070;received=10.0.0.1",
    ]
    assert [str(r) for r in alice_ok.record_routes] == [
        f"<sip:{EDGE};lr;ftag=atag>",
        "<sip:10.0.0.2;lr>",
    ]

    # 3. Alice hangs up: route set [10.0.0.2, edge], target Bob's masked Contact
    bob_target = str(alice_ok.contacts[0].uri)
    assert bob_target.startswith("sip:192.0.2.200;line=sr-")
    bye = parse_message(
        (
            f"BYE {bob_target} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1bye\r\n"
            "Via: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK-abye\r\n"
            f"Route: <sip:{EDGE};lr;ftag=atag>\r\n"
            'From: "Alice" <sip:alice@example.com>;tag=atag\r\n'
            "To: <sip:bob@example.net>;tag=btag\r\nCall-ID: c0ffee@10.0.0.1\r\n"
            "CSeq: 2 BYE\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert TH.direction(bye, own) is True
    TH.unmask_request(bye, downstream=True)
    assert bye.uri_text == "sip:bob@203.0.113.5:5080"
    bye.pop_route()
    bob_bye, text = edge_forwards(bye, downstream=True, record_route=False)
    assert not INSIDE.search(text.split("\r\n", 1)[1]), text
    assert bob_bye.call_id == bob_inv.call_id  # Bob sees one Call-ID for the dialog


def test_the_callee_hangs_up_through_masked_routes():
    inv = parse_message(INVITE.encode())
    bob_inv, _ = edge_forwards(inv, downstream=True)
    # Bob's route set is the INVITE's Record-Route; its target Alice's masked Contact
    routes = ", ".join(str(r) for r in bob_inv.record_routes)
    bye = parse_message(
        (
            f"BYE {bob_inv.contacts[0].uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 203.0.113.5:5080;branch=z9hG4bK-bbye\r\n"
            f"Route: {routes}\r\n"
            "From: <sip:bob@example.net>;tag=btag\r\n"
            'To: "Alice" <sip:alice@example.com>;tag=atag\r\n'
            f"Call-ID: {bob_inv.call_id}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert TH.direction(bye, own) is False  # from the callee: upstream
    TH.unmask_request(bye, downstream=False)
    assert bye.uri_text == "sip:alice@10.0.0.1:5070;transport=tcp"
    assert bye.call_id == "c0ffee@10.0.0.1"
    bye.pop_route()
    assert [str(r) for r in bye.routes] == ["<sip:10.0.0.2;lr>"]  # on to the inside proxy
    alice_bye, text = edge_forwards(bye, downstream=False, record_route=False)
    assert not OUTSIDE.search(text.split("\r\n", 1)[1]), text
    assert alice_bye.call_id == "c0ffee@10.0.0.1"
    # Alice's 200 goes back out: Bob gets his own Via back and the masked Call-ID
    ok, _ = wire(make_response(alice_bye, 200))
    TH.unmask_reply(ok, downstream=False)
    ok.pop_via()
    TH.mask_reply(ok, own, downstream=False)
    bob_ok, text = wire(ok)
    assert [str(v) for v in bob_ok.vias] == ["SIP/2.0/UDP 203.0.113.5:5080;branch=z9hG4bK-bbye"]
    assert bob_ok.call_id == bob_inv.call_id and not INSIDE.search(text)


def test_reply_masks_only_the_far_side_of_the_record_route():
    resp = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-x\r\n"
        b"Record-Route: <sip:203.0.113.9;lr>, <sip:192.0.2.10;lr;r2=on>\r\n"
        b"Record-Route: <sip:192.0.2.10;transport=tcp;lr;r2=on>, <sip:10.0.0.2;lr>\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: q\r\nCSeq: 1 INVITE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    TH.mask_reply(resp, own, downstream=True)
    rr = [str(r.uri) for r in wire(resp)[0].record_routes]
    assert rr[0].startswith("sip:192.0.2.200;line=sr-") and rr[1:] == [
        "sip:192.0.2.10;lr;r2=on",
        "sip:192.0.2.10;transport=tcp;lr;r2=on",
        "sip:10.0.0.2;lr",
    ]
    TH.unmask_reply(resp, downstream=True)
    assert str(resp.record_routes[0].uri) == "sip:203.0.113.9;lr"


@given(st.text(min_size=1, max_size=200))
def test_mask_round_trip_and_alphabet(text):
    masked = TH.encode(text, "sr-")
    assert re.fullmatch(r"sr-[A-Za-z0-9.\-]+\**", masked)
    assert TH.decode(masked, "sr-") == text


def test_keys_differ_and_junk_is_refused():
    other = TopoHiding("another key")
    assert other.encode("sip:alice@10.0.0.1") != TH.encode("sip:alice@10.0.0.1")
    for junk in ("sr-", "sr-abc", "sr-ab*c", "sr-a***", "xx-abcd", "sr-ab!d"):
        with pytest.raises(ParseError):
            TH.decode(junk, "sr-")
    with pytest.raises(ValueError):
        TopoHiding("")
    # a Via that only looks like ours is left alone
    assert TH._unmask_via("SIP/2.0/UDP 192.0.2.200;branch=z9hG4bK-plain") == (
        "SIP/2.0/UDP 192.0.2.200;branch=z9hG4bK-plain"
    )


# -- the same call through the two hooks, as a proxy would call them ---------------------------
def proxy_request(data: bytes, record_route: bool = False) -> tuple[object, str, object]:
    """An edge proxy relaying a request: received hook, its own routing, sent hook.
    Returns (what the next hop parses, its text, a 100 Trying the proxy sent back)."""
    req = parse_message(data)
    TH.received(req, own)
    routes = req.routes
    if routes and own(routes[0].uri):
        req.pop_route()
    trying = make_response(req, 100)  # a local reply, made from the received request
    TH.sent(trying, own)
    req.prepend_via(Via("UDP", EDGE, 5060, {"branch": f"z9hG4bK-h-{req.cseq.num}"}))
    if record_route:
        req.prepend_record_route(NameAddr(SipURI(EDGE, params={"lr": None, "ftag": "atag"})))
    TH.sent(req, own)
    nxt, text = wire(req)
    return nxt, text, wire(trying)[0]


def proxy_reply(resp) -> tuple[object, str]:
    resp, _ = wire(resp)
    TH.received(resp, own)
    resp.pop_via()
    TH.sent(resp, own)
    return wire(resp)


def test_the_hooks_carry_the_direction_through_a_whole_call():
    bob_inv, text, trying = proxy_request(INVITE.encode(), record_route=True)
    assert not INSIDE.search(text)
    assert text.count("th=") == 1 and str(bob_inv.vias[0]).endswith(";th=div")  # ours only
    assert trying.call_id == "c0ffee@10.0.0.1" and "th" not in trying.vias[0].params
    ok = make_response(bob_inv, 200, to_tag="btag", copy_record_route=True,
                       headers=[("Contact", "<sip:bob@203.0.113.5:5080>")])  # fmt: skip
    alice_ok, text = proxy_reply(ok)
    assert not OUTSIDE.search(text) and "th=" not in text
    assert alice_ok.call_id == "c0ffee@10.0.0.1"
    assert str(alice_ok.vias[0]) == "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1"

    # Bob hangs up through his route set; Alice's side answers
    routes = ", ".join(str(r) for r in bob_inv.record_routes)
    bye = (
        f"BYE {bob_inv.contacts[0].uri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5080;branch=z9hG4bK-bbye\r\n"
        f"Route: {routes}\r\n"
        "From: <sip:bob@example.net>;tag=btag\r\n"
        'To: "Alice" <sip:alice@example.com>;tag=atag\r\n'
        f"Call-ID: {bob_inv.call_id}\r\nCSeq: 7 BYE\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    alice_bye, text, trying = proxy_request(bye)
    assert alice_bye.uri_text == "sip:alice@10.0.0.1:5070;transport=tcp"
    assert alice_bye.call_id == "c0ffee@10.0.0.1" and not OUTSIDE.search(text)
    assert [str(r) for r in alice_bye.routes] == ["<sip:10.0.0.2;lr>"]
    assert trying.call_id == bob_inv.call_id  # a local reply to Bob: masked again
    bob_ok, text = proxy_reply(make_response(alice_bye, 200))
    assert bob_ok.call_id == bob_inv.call_id and not INSIDE.search(text)
    assert [str(v) for v in bob_ok.vias] == ["SIP/2.0/UDP 203.0.113.5:5080;branch=z9hG4bK-bbye"]


def test_hooks_on_the_proxys_own_requests():
    cancel = parse_message((
        "CANCEL sip:bob@203.0.113.5 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {EDGE}:5060;branch=z9hG4bK-h-1\r\n"
        "From: <sip:alice@example.com>;tag=atag\r\nTo: <sip:bob@example.net>\r\n"
        "Call-ID: c0ffee@10.0.0.1\r\nCSeq: 1 CANCEL\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode())  # fmt: skip
    TH.sent(cancel, own)
    bob_cancel, _ = wire(cancel)
    assert bob_cancel.call_id == TH.encode("c0ffee@10.0.0.1", "!!:")
    ok = make_response(bob_cancel, 200, to_tag="btag")
    ok, _ = wire(ok)
    TH.received(ok, own)
    assert ok.call_id == "c0ffee@10.0.0.1"
    # a reply the hooks never saw the request of, and a local BYE, pass untouched
    stray = parse_message(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-s\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: s@10.0.0.9\r\n"
        b"CSeq: 1 BYE\r\nContact: <sip:a@10.0.0.9>\r\nContent-Length: 0\r\n\r\n"
    )
    before = stray.to_bytes()
    TH.sent(stray, own)
    TH.received(stray, own)
    assert stray.to_bytes() == before
