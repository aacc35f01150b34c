"""The sans-IO core against a real Kamailio 5.6: digest, transactions and dialogs on the wire.

Two user agents built only from kamtool.sip (TransactionLayer, Dialog, digest) on UDP
sockets: 1002 registers (401 challenge answered), 1001 calls 1002 through Kamailio (407
challenge, our hop-by-hop ACK, Record-Route route set, ACK and BYE by loose routing), then
a second call is cancelled (Kamailio relays the CANCEL to our server core, which must match
it to the INVITE and absorb Kamailio's hop-by-hop ACK of the 487).
"""

from __future__ import annotations

import time

import pytest

from kamtool.sip.dialog import Dialog, DialogState
from kamtool.sip.digest import answer_challenge, parse_challenge
from kamtool.sip.events import Peer, RequestReceived, ResponseReceived
from kamtool.sip.message import make_response
from kamtool.sip.transaction import client_key
from kamtool.sip.uri import parse_uri

from .sipua import UA

pytestmark = pytest.mark.kamailio


def with_auth(ua: UA, method: str, uri: str, to: str, cseq: int, call_id: str, header: str):
    """Send a request, answer Kamailio's challenge (401/407) and send it again (cseq + 1)."""
    first = ua.request(method, uri, to, cseq, call_id)
    ua.send(first)
    challenge = ua.final(first).response
    assert challenge.status in (401, 407)
    hdr = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
    creds = answer_challenge(
        parse_challenge(challenge.headers.get(hdr)),
        method=method,
        uri=f"sip:127.0.0.1:{ua.proxy.port}",
        username=ua.user,
        password=f"secret{ua.user}",
    )
    second = ua.request(method, uri, to, cseq + 1, call_id, **{header: creds.to_header()})
    ua.send(second)
    return second


def next_hop(dialog: Dialog) -> Peer:
    uri = parse_uri(dialog.next_hop())
    return Peer("udp", uri.host, uri.port or 5060)


def test_register_call_bye_and_cancel_through_kamailio(kamailio):
    port = kamailio.sip_port
    caller, callee = UA("1001", port), UA("1002", port)
    try:
        # -- 1002 registers: 401, digest answer, 200 (NICT on both legs)
        aor = "<sip:1002@127.0.0.1>"
        reg = with_auth(callee, "REGISTER", f"sip:127.0.0.1:{port}", aor, 1, "reg-1002",
                        "Authorization")  # fmt: skip
        ok = callee.final(reg).response
        assert ok.status == 200 and ok.contacts[0].uri.port == callee.port

        # -- 1001 calls 1002: 407 (our ICT ACKs it), then the authenticated INVITE
        invite = with_auth(caller, "INVITE", f"sip:1002@127.0.0.1:{port}", aor, 1, "call-a",
                           "Proxy-Authorization")  # fmt: skip
        incoming = callee.wait(lambda e: isinstance(e, RequestReceived) and e.key is not None)
        assert incoming.request.method == "INVITE"
        assert incoming.request.record_routes  # Kamailio record-routes INVITEs
        uas = Dialog.from_uas(incoming.request, local_tag="uas-a")

        def answer(status: int):
            resp = make_response(incoming.request, status, to_tag="uas-a", copy_record_route=True)
            resp.headers.add("Contact", f"<sip:1002@127.0.0.1:{callee.port}>")
            now = time.monotonic()
            # a UAS retransmits its 2xx until the ACK (13.3.1.4)
            sent = callee.layer.send_response(incoming.key, resp, now, retransmit_2xx=True)
            callee.perform(sent)

        answer(180)
        answer(200)
        uas.confirm()
        ok = caller.final(invite).response
        assert ok.status == 200
        uac = Dialog.from_uac(invite, ok)
        assert uac.state is DialogState.CONFIRMED
        assert uac.route_set == tuple(str(r) for r in reversed(ok.record_routes))
        assert uac.remote_target == f"sip:1002@127.0.0.1:{callee.port}"

        # -- ACK of the 2xx: end to end, by loose routing through Kamailio
        ack = uac.create_request("ACK", via=caller.via(), cseq=invite.cseq.num)
        caller.sock.sendto(ack.to_bytes(), tuple(next_hop(uac))[1:])
        got = callee.wait(lambda e: isinstance(e, RequestReceived) and e.request.method == "ACK")
        assert got.key is None and uas.matches(got.request)
        assert not callee.layer.awaiting_ack(incoming.key)  # Kamailio's ACK stopped the 2xx

        # -- the caller hangs up
        bye = uac.create_request("BYE", via=caller.via())
        caller.perform(caller.layer.send_request(bye, next_hop(uac), time.monotonic()))
        got = callee.wait(lambda e: isinstance(e, RequestReceived) and e.request.method == "BYE")
        assert uas.matches(got.request) and uas.receive_request(got.request) is None
        assert uas.state is DialogState.TERMINATED
        bye_ok = make_response(got.request, 200)
        callee.perform(callee.layer.send_response(got.key, bye_ok, time.monotonic()))
        done = caller.final(bye).response
        assert done.status == 200
        uac.receive_response(done)
        assert uac.state is DialogState.TERMINATED

        # -- a second call, cancelled while ringing
        invite = with_auth(caller, "INVITE", f"sip:1002@127.0.0.1:{port}", aor, 1, "call-b",
                           "Proxy-Authorization")  # fmt: skip
        incoming = callee.wait(lambda e: isinstance(e, RequestReceived) and e.key is not None)
        ring = make_response(incoming.request, 180, to_tag="uas-b")
        ring.headers.add("Contact", f"<sip:1002@127.0.0.1:{callee.port}>")
        callee.perform(callee.layer.send_response(incoming.key, ring, time.monotonic()))
        ikey = client_key(invite)
        caller.wait(
            lambda e: isinstance(e, ResponseReceived) and e.key == ikey and e.response.status == 180
        )
        caller.perform(caller.layer.cancel(ikey, time.monotonic()))
        cancelled = caller.wait(
            lambda e: isinstance(e, ResponseReceived) and e.key == (ikey[0], "CANCEL")
        )
        assert cancelled.response.status == 200

        cancel = callee.wait(
            lambda e: isinstance(e, RequestReceived) and e.request.method == "CANCEL"
        )
        assert cancel.cancels == incoming.key  # matched to our INVITE server transaction
        now = time.monotonic()
        callee.perform(
            callee.layer.send_response(cancel.key, make_response(cancel.request, 200), now)
        )
        terminated = make_response(incoming.request, 487, to_tag="uas-b")
        callee.perform(callee.layer.send_response(incoming.key, terminated, now))
        assert caller.final(invite).response.status == 487  # and our ICT ACKs Kamailio
        # Kamailio's hop-by-hop ACK of the 487 matches our INVITE server transaction
        callee.run_until(lambda: callee.layer.state(incoming.key) != "Completed")
        assert callee.layer.state(incoming.key) == "Confirmed"  # Timer I still running
        assert not [e for e in callee.events if isinstance(e, RequestReceived)]
    finally:
        caller.close()
        callee.close()
