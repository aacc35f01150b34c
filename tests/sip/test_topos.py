"""kamtool.sip.topos on its own: a dialog between A (behind proxy X) and B (behind
proxy Y) through the edge P, driven message by message as P's transports would."""

from __future__ import annotations

from kamtool.sip import parse_message
from kamtool.sip.topos import TopoStrip

P = ("10.0.0.1", 5060, "udp")
PROXY_HOSTS = {"10.0.0.1", "10.0.1.1"}


def own(uri) -> bool:
    return uri.host in PROXY_HOSTS


def msg(text: str):
    return parse_message(text.replace("\n", "\r\n").encode())


INVITE_OUT = """INVITE sip:b@192.168.9.9:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.1.1:5060;branch=z9hG4bKp1
Via: SIP/2.0/UDP 172.16.0.5:5060;branch=z9hG4bKx1;received=172.16.0.5
Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKa1
Record-Route: <sip:10.0.1.1;lr;ftag=fa>
Record-Route: <sip:172.16.0.5;lr>
From: <sip:a@example.com>;tag=fa
To: <sip:b@example.com>
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:a@192.168.1.10:5060>;+sip.instance="<urn:x>"
Content-Length: 0

"""

OK_IN = """SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.1.1:5060;branch=z9hG4bKp1
Record-Route: <sip:203.0.113.7;lr>
From: <sip:a@example.com>;tag=fa
To: <sip:b@example.com>;tag=tb
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:b@192.168.9.9:5060>
Content-Length: 0

"""


def _call(ts: TopoStrip):
    inv_in = msg(INVITE_OUT.replace("Via: SIP/2.0/UDP 10.0.1.1:5060;branch=z9hG4bKp1\n", "")
                 .replace("Record-Route: <sip:10.0.1.1;lr;ftag=fa>\n", ""))  # fmt: skip
    ts.received(inv_in, P, 0.0)
    out = msg(INVITE_OUT)
    ts.sent(out, 0.0)
    return out


def test_initial_invite_leaves_with_the_proxy_only_and_the_reply_comes_back_whole():
    ts = TopoStrip(own)
    out = _call(ts)
    assert out.headers.get_all("Via") == ["SIP/2.0/UDP 10.0.1.1:5060;branch=z9hG4bKp1"]
    assert "Record-Route" not in out.headers
    [contact] = out.contacts
    assert str(contact.uri).startswith("sip:atpsh-") and contact.uri.host == "10.0.1.1"
    assert contact.params["+sip.instance"] == '"<urn:x>"'  # header parameters kept
    reply = msg(OK_IN)
    ts.received(reply, ("10.0.1.1", 5060, "udp"), 1.0)
    assert [v.host for v in reply.vias] == ["10.0.1.1", "172.16.0.5", "192.168.1.10"]
    reply.pop_via()  # the proxy's tm forwards it
    ts.sent(reply, 1.0)
    assert "Record-Route" not in reply.headers
    assert str(reply.contacts[0].uri).startswith("sip:btpsh-")
    assert reply.contacts[0].uri.host == "10.0.0.1"  # the socket A's INVITE came in on


def test_in_dialog_requests_get_their_target_and_route_set_back():
    ts = TopoStrip(own)
    atpsh = str(_call(ts).contacts[0].uri)
    reply = msg(OK_IN)
    ts.received(reply, P, 1.0)
    reply.pop_via()
    ts.sent(reply, 1.0)
    btpsh = str(reply.contacts[0].uri)
    # A's BYE, to the Contact it got: towards B, through the proxy itself, then Y
    bye = msg(f"""BYE {btpsh} SIP/2.0
Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKa2
From: <sip:a@example.com>;tag=fa
To: <sip:b@example.com>;tag=tb
Call-ID: c1
CSeq: 2 BYE
Content-Length: 0

""")
    ts.received(bye, P, 2.0)
    assert str(bye.uri) == "sip:b@192.168.9.9:5060"
    assert [str(r.uri) for r in bye.routes] == ["sip:10.0.1.1;lr;ftag=fa", "sip:203.0.113.7;lr"]
    # B's re-INVITE, to the Contact it got: towards A, through the proxy, then X
    reinv = msg(f"""INVITE {atpsh} SIP/2.0
Via: SIP/2.0/UDP 192.168.9.9:5060;branch=z9hG4bKb2
From: <sip:b@example.com>;tag=tb
To: <sip:a@example.com>;tag=fa
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:b@192.168.9.9:5060>
Content-Length: 0

""")
    ts.received(reinv, ("10.0.1.1", 5060, "udp"), 3.0)
    assert str(reinv.uri) == "sip:a@192.168.1.10:5060"
    assert [str(r.uri) for r in reinv.routes] == ["sip:10.0.1.1;lr;ftag=fa", "sip:172.16.0.5;lr"]
    reinv.pop_route()  # the proxy's loose_route, then it forwards to X
    reinv.prepend_via("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKp3")
    ts.sent(reinv, 3.0)
    assert str(reinv.contacts[0].uri) == btpsh.replace("10.0.1.1", "10.0.0.1")
    assert len(reinv.vias) == 1


def test_a_cancel_keeps_the_invites_vias_and_records_stay_bounded():
    ts = TopoStrip(own, max_dialogs=2, max_branches=4)
    _call(ts)
    cancel = msg("""CANCEL sip:b@192.168.9.9:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.1.1:5060;branch=z9hG4bKp1
From: <sip:a@example.com>;tag=fa
To: <sip:b@example.com>
Call-ID: c1
CSeq: 1 CANCEL
Content-Length: 0

""")
    ts.sent(cancel, 1.0)
    terminated = msg(OK_IN.replace("200 OK", "487 Request Terminated"))
    ts.received(terminated, P, 1.0)
    assert len(terminated.vias) == 3  # the CANCEL (same branch) did not clobber them
    terminated.pop_via()
    ts.sent(terminated, 1.0)  # the call failed: its dialog goes once retransmissions are
    assert ts.purge(1.0 + 33.0) == 1 and not ts.by_key
    for i in range(10):
        ts.sent(msg(INVITE_OUT.replace("c1", f"c{i + 2}").replace("p1", f"p{i + 2}")), 2.0)
    assert len(ts.by_key) == 2 and len(ts.by_uuid) == 4 and len(ts.branches) == 4
    assert ts.purge(2.0 + 10800.0) == 6  # expired: two dialogs, four branches
    unknown = msg(INVITE_OUT.replace("sip:b@192.168.9.9:5060", "sip:btpsh-0000@10.0.0.1"))
    ts.received(unknown, P, 3.0)
    assert str(unknown.uri) == "sip:btpsh-0000@10.0.0.1"  # left for the proxy to answer
