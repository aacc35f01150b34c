"""Call flows through the proxy, against a real Kamailio 5.6 and ``kamtool serve`` (same
reference cfg): CANCEL races, forking and the best response, dialogs (re-INVITE both
ways, UPDATE, PRACK, INFO, MESSAGE, BYE), strict routing. The UAs are tests/interop/wire.py
peers over UDP (exact bytes, no retransmissions of their own); 127.0.0.1 is trusted, so
the calls need no digest. Where the two servers differ on purpose the test says so."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.interop.wire import Msg, Peer, register

CALLER_TAG = "caller1"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)
_n = itertools.count(1)


def raw(peer: Peer, method: str, uri: str, *, frm: str, to: str, call_id: str, cseq: int,
        headers: list[str] | tuple[str, ...] = (), body: str = "", branch: str = "",
        cseq_method: str = "") -> bytes:  # fmt: skip
    """A request with exactly these fields (a dialog's From tag kept across requests)."""
    branch = branch or f"z9hG4bK-cf-{peer.port}-{next(_n)}"
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch={branch};rport",
        f"From: {frm}", f"To: {to}", f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}", "Max-Forwards: 70",
        *headers, f"Content-Length: {len(body.encode())}",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def answer(peer: Peer, req: Msg, status: int, reason: str, *, tag: str = "uas1",
           headers: list[str] | tuple[str, ...] = (), body: str = "") -> None:  # fmt: skip
    """Answer ``req`` as a UA: its To tag, a Contact on 1xx/2xx, Record-Route echoed."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for name, value in req.headers:
        if name in ("via", "from", "call-id", "cseq", "record-route"):
            lines.append(f"{name.title()}: {value}")
        elif name == "to":
            lines.append(value if ";tag=" in value else f"To: {value};tag={tag}")
            if ";tag=" in value:
                lines[-1] = f"To: {value}"
    if status < 300:
        lines.append(f"Contact: {peer.contact('uas')}")
    lines += [*headers, f"Content-Length: {len(body.encode())}"]
    peer.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), peer.server)


def collect(peer: Peer, wait: float = 0.5) -> list[Msg]:
    """Everything ``peer`` receives (UDP or its stream) until ``wait`` seconds of silence."""
    out: list[Msg] = []
    old, peer.timeout = peer.timeout, wait
    if peer.transport == "udp":
        peer.sock.settimeout(wait)
    try:
        while True:
            out.append(peer.recv())
    except TimeoutError:
        return out
    finally:
        peer.timeout = old
        if peer.transport == "udp":
            peer.sock.settimeout(old)


def finals(msgs: list[Msg], method: str = "INVITE", call: Call | None = None) -> list[Msg]:
    """The final replies to ``method`` (of ``call`` only: a stateful final of an earlier
    call, retransmitted before its ACK arrived, may come in with the next call's)."""
    return [m for m in msgs if m.status >= 200 and m.get("cseq").endswith(method)
            and (call is None or m.get("call-id") == call.call_id)]  # fmt: skip


def requests(msgs: list[Msg], method: str) -> list[Msg]:
    return [m for m in msgs if m.method == method]


@contextmanager
def phones(target, user: str, count: int = 1) -> Iterator[list[Peer]]:
    """``count`` UAs registered as ``user`` (parallel forking when more than one)."""
    peers = [Peer("udp", target.sip_port) for _ in range(count)]
    try:
        for p in peers:
            ok = register(p, user, [f"Contact: {p.contact(user)}", "Expires: 600"])
            assert ok.status == 200, ok.first
        yield peers
    finally:
        register(peers[0], user, ["Contact: *", "Expires: 0"])
        for p in peers:
            p.close()


class Call:
    """The caller's side of one INVITE to ``user`` through the proxy."""

    def __init__(self, caller: Peer, user: str, headers: tuple[str, ...] = ()) -> None:
        self.caller = caller
        self.call_id = f"cf-{caller.port}-{next(_n)}@127.0.0.1"
        self.frm = f"<sip:1001@127.0.0.1>;tag={CALLER_TAG}"
        heads = [f"Contact: {caller.contact('1001')}", "Content-Type: application/sdp", *headers]
        self.invite = raw(caller, "INVITE", f"sip:{user}@127.0.0.1", frm=self.frm,
                          to=f"<sip:{user}@127.0.0.1>", call_id=self.call_id, cseq=1,
                          headers=heads, body=SDP)  # fmt: skip
        caller.send(self.invite)

    def cancel(self, headers: tuple[str, ...] = (), branch: str = "") -> None:
        """CANCEL the INVITE (its Via branch unless ``branch``)."""
        text = self.invite.decode()
        branch = branch or text.split("branch=", 1)[1].split(";", 1)[0]
        to = text.split("\r\nTo: ", 1)[1].split("\r\n", 1)[0]
        self.caller.send(raw(self.caller, "CANCEL", to.strip("<>"), frm=self.frm, to=to,
                             call_id=self.call_id, cseq=1, headers=list(headers),
                             branch=branch))  # fmt: skip

    def in_dialog(self, ok: Msg, method: str, cseq: int, extra: tuple[str, ...] = (), **kw) -> None:
        """A request of the caller in the dialog ``ok`` set up (route set: its RR
        reversed, target: its Contact)."""
        routes = [f"Route: {r}" for r in reversed(ok.all("record-route"))]
        self.caller.send(raw(self.caller, method, ok.get("contact").strip("<>"), frm=self.frm,
                             to=ok.get("to"), call_id=self.call_id, cseq=cseq,
                             headers=[*routes, f"Contact: {self.caller.contact('1001')}", *extra],
                             **kw))  # fmt: skip


def callee_request(callee: Peer, invite: Msg, method: str, cseq: int, body: str = "") -> bytes:
    """A request of the callee in the dialog ``invite`` (as received) set up."""
    routes = [f"Route: {r}" for r in invite.all("record-route")]
    caller_contact = invite.get("contact").strip("<>")
    return raw(callee, method, caller_contact, frm=f"{invite.get('to')};tag=uas1",
               to=invite.get("from"), call_id=invite.get("call-id"), cseq=cseq,
               headers=[*routes, f"Contact: {callee.contact('uas')}"], body=body)  # fmt: skip


def ring(callee: Peer, tag: str = "uas1") -> Msg:
    invite = callee.next_request()
    assert invite.method == "INVITE"
    answer(callee, invite, 180, "Ringing", tag=tag)
    return invite


# ------------------------------------------------------------------ CANCEL races


def test_cancel_before_any_provisional_is_held_then_487(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = callee.next_request()
        call.cancel()
        got = collect(caller)
        assert [(m.status, m.reason) for m in got if "CANCEL" in m.get("cseq")] == [
            (200, "canceling")
        ]
        # RFC 3261 §9.1: no CANCEL before the callee's first provisional; the INVITE
        # retransmissions go on meanwhile
        assert not requests(collect(callee, 0.3), "CANCEL")
        answer(callee, invite, 100, "Trying")
        cancel = requests(collect(callee), "CANCEL")[0]
        answer(callee, cancel, 200, "OK")
        answer(callee, invite, 487, "Request Terminated")
        assert requests(collect(callee), "ACK")  # the 487's ACK, hop by hop
        assert finals(collect(caller))[0].status == 487


def test_cancel_after_180_carries_the_callers_reason(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = ring(callee)
        call.cancel(("Reason: Q.850;cause=16",))
        cancel = callee.next_request()
        assert cancel.method == "CANCEL" and cancel.get("cseq") == "1 CANCEL"
        assert cancel.get("via") == invite.get("via")  # the INVITE's branch (§9.1)
        assert cancel.all("reason") == ["Q.850;cause=16"]  # RFC 3326, as tm's e2e CANCEL
        answer(callee, cancel, 200, "OK")
        answer(callee, invite, 487, "Request Terminated")
        got = collect(caller)
        assert (200, "canceling") in [(m.status, m.reason) for m in got]
        assert [m.status for m in finals(got)][:1] == [487]


def test_cancel_crossing_the_200_still_lets_ack_and_bye_through(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = ring(callee)
        answer(callee, invite, 200, "OK", body=SDP)
        call.cancel()
        got = collect(caller)
        ok = finals(got)[0]
        assert ok.status == 200 and ok.get("to").endswith("tag=uas1")
        # tm's words for a CANCEL with nothing left to cancel (kamtool said "canceling")
        assert [(m.status, m.reason) for m in finals(got, "CANCEL")] == [
            (200, "ok -- no more pending branches")
        ]
        assert not requests(collect(callee, 0.3), "CANCEL")
        call.in_dialog(ok, "ACK", 1)
        ack = callee.next_request()
        assert ack.method == "ACK" and ack.first.startswith("ACK sip:uas@")
        call.in_dialog(ok, "BYE", 2)
        bye = callee.next_request()
        assert bye.method == "BYE" and bye.get("max-forwards") == "69"
        answer(callee, bye, 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200


def test_cancel_matching_no_transaction(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = ring(callee)
        collect(caller, 0.3)
        # another Via branch: no INVITE transaction matches it. Kamailio's cfg drops such
        # a CANCEL silently (t_check_trans() fails, exit); kamtool's route answers 481 (RFC
        # 3261 §9.2: a UAS SHOULD, and the caller learns at once instead of timing out)
        call.cancel(branch="z9hG4bK-not-the-invite")
        got = collect(caller)
        if target.name == "kamailio":
            assert got == []
        else:
            assert [(m.status, m.reason) for m in got] == [(481, "Call/Transaction Does Not Exist")]
        assert not requests(collect(callee, 0.3), "CANCEL")  # the call rings on
        answer(callee, invite, 486, "Busy Here")
        assert finals(collect(caller))[0].status == 486


# ------------------------------------------------------------------ forking


def test_fork_answered_cancels_the_other_branch_with_reason(target):
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        Call(caller, "1003")
        invite_b, invite_c = ring(b, "b1"), ring(c, "c1")
        # both 180s relayed first: Kamailio's children may otherwise take b's 200 before
        # c's 180, and then cancel_b_method 1 sends no CANCEL to c until it rings again
        assert len([m for m in collect(caller) if m.status == 180]) == 2
        answer(b, invite_b, 200, "OK", tag="b1", body=SDP)
        cancel = c.next_request()
        assert cancel.method == "CANCEL"
        # RFC 3326 / RFC 3261 §16.7 step 10, as Kamailio words it (kamtool sent none)
        assert cancel.all("reason") == ['SIP;cause=200;text="Call completed elsewhere"']
        answer(c, cancel, 200, "OK", tag="c1")
        answer(c, invite_c, 487, "Request Terminated", tag="c1")
        got = collect(caller)
        assert [m.status for m in finals(got)] == [200]
        assert finals(got)[0].get("to").endswith("tag=b1")
        assert requests(collect(c), "ACK")


def test_fork_every_2xx_is_forwarded(target):
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        Call(caller, "1003")
        invite_b, invite_c = ring(b, "b1"), ring(c, "c1")
        answer(b, invite_b, 200, "OK", tag="b1", body=SDP)
        answer(c, invite_c, 200, "OK", tag="c1", body=SDP)  # crossed the CANCEL
        tags = {m.get("to").rsplit("tag=", 1)[1] for m in finals(collect(caller))}
        assert tags == {"b1", "c1"}  # RFC 6026: both, the caller ACKs and BYEs the second


@pytest.mark.parametrize(
    ("codes", "status", "reason"),
    [
        ((486, 404), 404, "Not Found"),  # tm's rank: the lowest code of the class
        ((486, 200), 200, "OK"),
        ((503, 503), 500, "Service Unavailable"),  # §16.7 step 6: no 503 upstream
        ((302, 486), 302, "Moved Temporarily"),  # 3xx beats 4xx
        ((401, 407), 401, "Unauthorized"),  # both challenges, below
    ],
)
def test_fork_best_response(target, codes, status, reason):
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        Call(caller, "1003")
        invites = [ring(b, "b1"), ring(c, "c1")]
        extra = {401: ['WWW-Authenticate: Digest realm="b", nonce="1"'],
                 407: ['Proxy-Authenticate: Digest realm="c", nonce="2"'],
                 302: ["Contact: <sip:elsewhere@127.0.0.1:5999>"]}  # fmt: skip
        for peer, invite, code, tag in zip((b, c), invites, codes, ("b1", "c1"), strict=True):
            phrase = {200: "OK", 302: "Moved Temporarily", 404: "Not Found"}.get(code, "Nope")
            answer(peer, invite, code, phrase, tag=tag, headers=extra.get(code, []),
                   body=SDP if code == 200 else "")  # fmt: skip
            collect(peer, 0.2)
        best = finals(collect(caller))[0]
        assert (best.status, best.reason) == (status, reason)
        if status == 401:
            # §16.7 step 7: every challenge goes up (Kamailio's tm_aggregate_auth); kamtool
            # passed the first branch's alone
            assert best.all("www-authenticate") == ['Digest realm="b", nonce="1"']
            assert best.all("proxy-authenticate") == ['Digest realm="c", nonce="2"']
        if status == 302:
            assert best.get("contact") == "<sip:elsewhere@127.0.0.1:5999>"


def test_fork_6xx_cancels_the_others_and_wins_once_they_end(target):
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        Call(caller, "1003")
        invite_b, invite_c = ring(b, "b1"), ring(c, "c1")
        collect(caller, 0.2)
        answer(b, invite_b, 603, "Decline", tag="b1")
        cancel = c.next_request()
        assert cancel.method == "CANCEL" and cancel.all("reason") == ["SIP;cause=603"]
        # §16.7 step 5: the 6xx is not forwarded at once (kamtool forwarded it before
        # the other branch ended)
        assert not finals(collect(caller, 0.3))
        answer(c, cancel, 200, "OK", tag="c1")
        answer(c, invite_c, 487, "Request Terminated", tag="c1")
        assert [(m.status, m.reason) for m in finals(collect(caller))][:1] == [(603, "Decline")]


# ------------------------------------------------------------------ dialogs


def _answered(target, caller: Peer, callee: Peer, headers: tuple[str, ...] = ()):
    call = Call(caller, "1002", headers)
    invite = callee.next_request()
    answer(callee, invite, 200, "OK", body=SDP)
    ok = finals(collect(caller))[0]
    assert ok.all("record-route") == invite.all("record-route") != []
    call.in_dialog(ok, "ACK", 1)
    assert callee.next_request().method == "ACK"
    return call, invite, ok


def test_dialog_requests_both_ways(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        # a 2xx retransmission (the callee missed the ACK) reaches the caller: RFC 6026
        answer(callee, invite, 200, "OK", body=SDP)
        assert finals(collect(caller))[0].status == 200
        for cseq, method in enumerate(("INVITE", "UPDATE", "INFO"), start=2):
            call.in_dialog(ok, method, cseq)
            got = callee.next_request()
            assert got.method == method and got.first.startswith(f"{method} sip:uas@")
            assert not got.all("route") and got.get("max-forwards") == "69"
            assert len(got.all("via")) == 2
            answer(callee, got, 200, "OK")
            assert finals(collect(caller), method)[0].status == 200
        call.in_dialog(ok, "ACK", 2)
        assert callee.next_request().method == "ACK"
        # the callee's requests go the other way along the same record-route
        for cseq, method in enumerate(("INVITE", "MESSAGE", "BYE"), start=1):
            callee.send(callee_request(callee, invite, method, cseq, body="x"))
            got = caller.next_request()
            assert got.method == method and got.first.startswith(f"{method} sip:1001@")
            assert got.get("to").endswith(f"tag={CALLER_TAG}")
            answer(caller, got, 200, "OK", tag=CALLER_TAG)
            assert finals(collect(callee), method)[0].status == 200
            if method == "INVITE":
                callee.send(callee_request(callee, invite, "ACK", 1))
                assert caller.next_request().method == "ACK"


def test_prack_of_a_reliable_provisional(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002", ("Supported: 100rel",))
        invite = callee.next_request()
        assert invite.get("supported") == "100rel"
        answer(callee, invite, 183, "Session Progress",
               headers=["Require: 100rel", "RSeq: 1"], body=SDP)  # fmt: skip
        progress = [m for m in collect(caller) if m.status == 183][0]
        assert (progress.get("require"), progress.get("rseq")) == ("100rel", "1")
        call.in_dialog(progress, "PRACK", 2, ("RAck: 1 1 INVITE",))
        prack = callee.next_request()
        assert prack.method == "PRACK" and prack.get("cseq") == "2 PRACK"
        assert prack.first.startswith("PRACK sip:uas@") and prack.get("rack") == "1 1 INVITE"
        answer(callee, prack, 200, "OK")
        assert finals(collect(caller), "PRACK")[0].status == 200
        answer(callee, invite, 200, "OK", body=SDP)
        assert finals(collect(caller))[0].status == 200


def test_ack_of_a_non_2xx_stays_hop_by_hop(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = callee.next_request()
        answer(callee, invite, 486, "Busy Here")
        busy = finals(collect(caller))[0]
        assert busy.status == 486
        # the proxy ACKs the 486 itself (§17.1.1.3, same branch as its INVITE)
        ack = callee.next_request()
        assert ack.method == "ACK" and ack.get("via") == invite.all("via")[0]
        # and absorbs the caller's ACK, which matches its server transaction
        branch = call.invite.decode().split("branch=", 1)[1].split(";", 1)[0]
        caller.send(raw(caller, "ACK", "sip:1002@127.0.0.1", frm=call.frm, to=busy.get("to"),
                        call_id=call.call_id, cseq=1, branch=branch))  # fmt: skip
        assert collect(callee, 0.4) == []


def test_bye_with_a_wrong_to_tag_still_follows_the_route(target):
    # loose_route() does not check the dialog: the BYE goes to the remote target and the
    # callee answers 481 itself (both servers alike)
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        ok.headers = [(n, "<sip:1002@127.0.0.1>;tag=wrong" if n == "to" else v)
                      for n, v in ok.headers]  # fmt: skip
        call.in_dialog(ok, "BYE", 2)
        bye = callee.next_request()
        assert bye.get("to").endswith("tag=wrong")
        answer(callee, bye, 481, "Call/Transaction Does Not Exist")
        assert finals(collect(caller), "BYE")[0].status == 481


def test_bye_from_a_strict_router(target):
    """RFC 3261 §16.4: a strict router before us put our Record-Route URI in the
    Request-URI and the remote target in the last Route: the proxy takes it back into the
    Request-URI (Kamailio's after_strict). kamtool forwarded ``BYE sip:<our RR>`` with
    the Route left in."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        ours = ok.all("record-route")[0].strip("<>").replace(";lr", "")
        target_uri = ok.get("contact").strip("<>")
        route = [f"Route: <{target_uri}>"]
        caller.send(raw(caller, "BYE", ours, frm=call.frm, to=ok.get("to"),
                        call_id=call.call_id, cseq=2, headers=route))  # fmt: skip
        bye = callee.next_request()
        assert bye.first == f"BYE {target_uri} SIP/2.0"
        assert not bye.all("route")
        answer(callee, bye, 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200


# ------------------------------------------------------------------ timers at run time


def _fr_inv_timer(target) -> int:
    """``cfg.get tm fr_inv_timer``. Kamailio 5.6 refuses to read it: cfg_get_by_name()
    answers no variable with an on-change fixup (tm's timer_fixup turns ms into ticks),
    so cfg_rpc faults 400. kamtool keeps the value exactly as set and answers it."""
    if target.name == "kamailio":
        with pytest.raises(RuntimeError, match="not readable via RPC interface"):
            target.rpc("cfg.get", "tm", "fr_inv_timer")
        return -1
    return target.rpc("cfg.get", "tm", "fr_inv_timer")


def test_fr_inv_timer_set_over_rpc_cancels_a_ringing_call(target):
    """``cfg.seti tm fr_inv_timer`` (ms) applies to the next transaction: the callee rings
    and never answers, Timer C fires after ~2 s, the caller gets 408, the callee a CANCEL.
    Kamailio 5.6 sends that CANCEL without a Reason (fake_reply: the cause is set only
    when other branches are still open), and kamtool alike."""
    assert _fr_inv_timer(target) in (-1, 120000)  # the reference cfg's modparam (ms)
    assert target.rpc("cfg.seti", "tm", "fr_inv_timer", 2000) == {}  # both: no value
    try:
        assert _fr_inv_timer(target) in (-1, 2000)
        with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
            call = Call(caller, "1002")
            invite = ring(callee)
            rang = time.monotonic()
            cancel = callee.next_request()
            assert 1.5 < time.monotonic() - rang < 3.0
            assert cancel.method == "CANCEL" and cancel.get("via") == invite.get("via")
            assert cancel.all("reason") == []
            answer(callee, cancel, 200, "OK")
            answer(callee, invite, 487, "Request Terminated")
            assert requests(collect(callee, 0.3), "ACK")  # the 487 absorbed, ACKed
            got = finals(collect(caller, 0.3), call=call)  # (Timer G: resent until ACKed)
            assert {(m.status, m.reason) for m in got} == {(408, "Request Timeout")}
            branch = call.invite.decode().split("branch=", 1)[1].split(";", 1)[0]
            caller.send(raw(caller, "ACK", "sip:1002@127.0.0.1", frm=call.frm,
                            to=got[0].get("to"), call_id=call.call_id, cseq=1,
                            branch=branch))  # fmt: skip
    finally:
        target.rpc("cfg.seti", "tm", "fr_inv_timer", 120000)
    assert _fr_inv_timer(target) in (-1, 120000)
