"""Transfer and event subscriptions through the proxy, against a real Kamailio 5.6 and
``kamtool serve`` (same reference cfg): REFER in a dialog with an escaped Replaces in its
Refer-To, the 202 and the NOTIFYs with sipfrag bodies, the transferee's INVITE with
Replaces; SUBSCRIBE/NOTIFY out of dialog (record-routed by the cfg), refresh and
unsubscribe inside the dialog the SUBSCRIBE made, and a SUBSCRIBE to nobody."""

from __future__ import annotations

import itertools

import pytest

from tests.interop.test_call_flows import (
    CALLER_TAG,
    SDP,
    _answered,
    answer,
    collect,
    finals,
    phones,
    raw,
    requests,
)
from tests.interop.test_dialog_flows import hop, state, to_callee, to_caller
from tests.interop.test_dialog_rpc import dialog
from tests.interop.wire import Msg, Peer

_n = itertools.count(1)


def uas_request(peer: Peer, req: Msg, method: str, cseq: int, headers: tuple[str, ...] = (),
                body: str = "", tag: str = "uas1") -> bytes:  # fmt: skip
    """A request of the UAS of ``req`` (as received) in the dialog ``req`` made."""
    routes = [f"Route: {r}" for r in req.all("record-route")]
    return raw(peer, method, req.get("contact").strip("<>"), frm=f"{req.get('to')};tag={tag}",
               to=req.get("from"), call_id=req.get("call-id"), cseq=cseq,
               headers=[*routes, f"Contact: {peer.contact('uas')}", *headers],
               body=body)  # fmt: skip


# ------------------------------------------------------------------ REFER


def test_refer_notify_and_the_invite_with_replaces(target):
    """RFC 3515/3891: 1001 transfers 1002 to 1003 (attended: Replaces escaped in the
    Refer-To URI). REFER, 202, NOTIFYs with sipfrag bodies go along the call's route set
    untouched; the transferee's INVITE with Replaces is a new call through the proxy."""
    with phones(target, "1002") as (callee,), phones(target, "1003") as (third,), \
            Peer("udp", target.sip_port) as caller:  # fmt: skip
        call, invite, ok = _answered(target, caller, callee)
        refer_to = ("<sip:1003@127.0.0.1?Replaces=other%40127.0.0.1%3Bto-tag%3Dt3"
                    "%3Bfrom-tag%3Df3>")  # fmt: skip
        call.in_dialog(ok, "REFER", 2, (f"Refer-To: {refer_to}",
                                        "Referred-By: <sip:1001@127.0.0.1>"))  # fmt: skip
        refer = callee.next_request()
        assert hop(refer) == to_callee("REFER", callee)
        assert refer.all("refer-to") == [refer_to] and refer.all("record-route") == []
        answer(callee, refer, 202, "Accepted")
        assert [(m.status, m.reason) for m in finals(collect(caller), "REFER")] == [
            (202, "Accepted")
        ]
        for cseq, (frag, sub) in enumerate([("SIP/2.0 100 Trying", "active;expires=60"),
                                            ("SIP/2.0 200 OK", "terminated;reason=noresource")],
                                           start=1):  # fmt: skip
            notify = ("Event: refer", f"Subscription-State: {sub}",
                      "Content-Type: message/sipfrag;version=2.0")  # fmt: skip
            callee.send(uas_request(callee, invite, "NOTIFY", cseq, notify, frag + "\r\n"))
            got = caller.next_request()
            assert hop(got) == to_caller("NOTIFY", caller)
            assert (got.get("event"), got.get("subscription-state")) == ("refer", sub)
            assert got.body == (frag + "\r\n").encode()
            answer(caller, got, 200, "OK", tag=CALLER_TAG)
            assert finals(collect(callee), "NOTIFY")[0].status == 200
            if cseq == 1:  # the transferee calls the Refer-To target, Replaces unescaped
                replaces = "other@127.0.0.1;to-tag=t3;from-tag=f3"
                new_call = f"xfer-{callee.port}-{next(_n)}@127.0.0.1"
                callee.send(raw(callee, "INVITE", "sip:1003@127.0.0.1",
                                frm="<sip:1002@127.0.0.1>;tag=xf", to="<sip:1003@127.0.0.1>",
                                call_id=new_call, cseq=1,
                                headers=[f"Contact: {callee.contact('1002')}",
                                         f"Replaces: {replaces}",
                                         "Referred-By: <sip:1001@127.0.0.1>",
                                         "Content-Type: application/sdp"], body=SDP))  # fmt: skip
                new = third.next_request()
                assert hop(new) == (
                    f"INVITE sip:1003@127.0.0.1:{third.port};transport=udp SIP/2.0",
                    [],
                    2,
                    "69",
                )
                assert new.all("replaces") == [replaces] and len(new.all("record-route")) == 1
                answer(third, new, 200, "OK", tag="t3new", body=SDP)
                assert finals(collect(callee), call=None)[0].status == 200
                assert dialog(target, new_call)["state"] == 3
        # the transferee leaves the old call
        call.in_dialog(ok, "BYE", 3)
        bye = callee.next_request()
        answer(callee, bye, 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200
        assert state(target, call) in (None, 5)


def test_refer_outside_a_dialog_is_not_record_routed(target):
    """An out-of-dialog REFER (RFC 3515 §2.4.4: it makes its own implicit subscription):
    the cfg record-routes INVITE and SUBSCRIBE only, so the REFER reaches the contact with
    no Record-Route, and a NOTIFY the referee sends to the proxy anyway (a To tag, no
    Route of ours) is refused by WITHINDLG with 404 Not here, on both."""
    with phones(target, "1002") as (referee,), Peer("udp", target.sip_port) as referrer:
        refer_to = "<sip:1003@127.0.0.1>"
        referrer.send(raw(referrer, "REFER", "sip:1002@127.0.0.1",
                          frm="<sip:1001@127.0.0.1>;tag=r1", to="<sip:1002@127.0.0.1>",
                          call_id=f"oref-{referrer.port}-{next(_n)}@127.0.0.1", cseq=1,
                          headers=[f"Contact: {referrer.contact('1001')}",
                                   f"Refer-To: {refer_to}"]))  # fmt: skip
        refer = referee.next_request()
        assert hop(refer) == (
            f"REFER sip:1002@127.0.0.1:{referee.port};transport=udp SIP/2.0",
            [],
            2,
            "69",
        )
        assert refer.all("record-route") == [] and refer.get("refer-to") == refer_to
        answer(referee, refer, 202, "Accepted", tag="x1")
        assert [m.status for m in finals(collect(referrer), "REFER")] == [202]
        notify = ("Event: refer", "Subscription-State: active;expires=60")
        referee.send(uas_request(referee, refer, "NOTIFY", 1, notify, "SIP/2.0 100 Trying\r\n",
                                 tag="x1"))  # fmt: skip
        got = collect(referee)
        assert [(m.status, m.reason) for m in got] == [(404, "Not here")]
        assert requests(collect(referrer, 0.2), "NOTIFY") == []


# ------------------------------------------------------------------ SUBSCRIBE / NOTIFY


@pytest.mark.parametrize("event", ["presence", "dialog"])
def test_subscribe_notify_refresh_and_unsubscribe(target, event):
    """RFC 6665 through the cfg: the SUBSCRIBE is record-routed (is_method INVITE|
    SUBSCRIBE) and goes to the registered contact; the notifier's NOTIFY, the refresh and
    the unsubscribe follow the dialog it made (no new Record-Route). No dialog of the
    dialog module (dlg_manage() is for INVITEs)."""
    with phones(target, "1002") as (notifier,), Peer("udp", target.sip_port) as sub:
        call_id = f"sub-{sub.port}-{next(_n)}@127.0.0.1"
        frm = "<sip:1001@127.0.0.1>;tag=s1"
        heads = [f"Contact: {sub.contact('1001')}", f"Event: {event}", "Expires: 600"]
        sub.send(raw(sub, "SUBSCRIBE", "sip:1002@127.0.0.1", frm=frm, to="<sip:1002@127.0.0.1>",
                     call_id=call_id, cseq=1, headers=heads))  # fmt: skip
        got = notifier.next_request()
        assert hop(got) == (
            f"SUBSCRIBE sip:1002@127.0.0.1:{notifier.port};transport=udp SIP/2.0",
            [],
            2,
            "69",
        )
        rr = got.all("record-route")
        assert len(rr) == 1 and ";lr" in rr[0] and "ftag=s1" in rr[0]
        answer(notifier, got, 202, "Accepted", headers=["Expires: 600"])
        accepted = finals(collect(sub), "SUBSCRIBE")[0]
        assert (accepted.status, accepted.all("record-route")) == (202, rr)
        assert accepted.get("expires") == "600"

        def notify(cseq: int, sub_state: str) -> None:
            extra = (f"Event: {event}", f"Subscription-State: {sub_state}")
            notifier.send(uas_request(notifier, got, "NOTIFY", cseq, extra))
            n = sub.next_request()
            assert hop(n) == to_caller("NOTIFY", sub)
            assert n.get("subscription-state") == sub_state and n.get("to") == frm
            answer(sub, n, 200, "OK", tag="s1")
            assert finals(collect(notifier), "NOTIFY")[0].status == 200

        notify(1, "active;expires=600")
        for cseq, expires in ((2, "600"), (3, "0")):
            routes = [f"Route: {r}" for r in reversed(accepted.all("record-route"))]
            sub.send(raw(sub, "SUBSCRIBE", accepted.get("contact").strip("<>"), frm=frm,
                         to=accepted.get("to"), call_id=call_id, cseq=cseq,
                         headers=[*routes, *heads[:2], f"Expires: {expires}"]))  # fmt: skip
            refresh = notifier.next_request()
            assert hop(refresh) == to_callee("SUBSCRIBE", notifier)
            assert refresh.all("record-route") == [] and refresh.get("expires") == expires
            answer(notifier, refresh, 200, "OK", headers=[f"Expires: {expires}"])
            assert finals(collect(sub), "SUBSCRIBE")[0].status == 200
        notify(2, "terminated;reason=timeout")
        assert dialog(target, call_id) is None


def test_subscribe_to_an_unregistered_user(target):
    """lookup() fails: both answer 404 Not Found from a transaction (t_newtran), with a
    To tag; a user that does not exist at all gets the same."""
    with Peer("udp", target.sip_port) as sub:
        for user in ("1003", "7777"):
            sub.send(raw(sub, "SUBSCRIBE", f"sip:{user}@127.0.0.1",
                         frm="<sip:1001@127.0.0.1>;tag=s2", to=f"<sip:{user}@127.0.0.1>",
                         call_id=f"nosub-{sub.port}-{next(_n)}@127.0.0.1", cseq=1,
                         headers=[f"Contact: {sub.contact('1001')}", "Event: presence",
                                  "Expires: 600"]))  # fmt: skip
            got = collect(sub)
            assert {(m.status, m.reason) for m in got} == {(404, "Not Found")}
            assert ";tag=" in got[0].get("to")
            assert requests(got, "NOTIFY") == []


def test_forked_subscribe_one_2xx_and_a_notify_from_each(target):
    """A SUBSCRIBE forked to two contacts, both accept: the subscriber gets the first
    2xx only (§16.7 step 10: after a final, only an INVITE's 2xx goes on; kamtool sent
    both), and each notifier's NOTIFY, along the route set of its own branch, makes its
    own dialog with the subscriber (RFC 6665 §4.1.2.4)."""
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as sub:
        sub.send(raw(sub, "SUBSCRIBE", "sip:1003@127.0.0.1", frm="<sip:1001@127.0.0.1>;tag=s1",
                     to="<sip:1003@127.0.0.1>", call_id=f"fsub-{sub.port}-{next(_n)}@127.0.0.1",
                     cseq=1, headers=[f"Contact: {sub.contact('1001')}", "Event: presence",
                                      "Expires: 60"]))  # fmt: skip
        got_b, got_c = b.next_request(), c.next_request()
        answer(b, got_b, 202, "Accepted", tag="b1")
        collect(b, 0.2)
        answer(c, got_c, 200, "OK", tag="c1")
        finals_ = finals(collect(sub), "SUBSCRIBE")
        assert {(m.status, m.get("to")) for m in finals_} == {(202, "<sip:1003@127.0.0.1>;tag=b1")}
        for peer, req, tag in ((b, got_b, "b1"), (c, got_c, "c1")):
            extra = ("Event: presence", "Subscription-State: active;expires=60")
            peer.send(uas_request(peer, req, "NOTIFY", 1, extra, tag=tag))
            notify = sub.next_request()
            assert hop(notify) == to_caller("NOTIFY", sub)
            assert notify.get("from").endswith(f"tag={tag}")
            answer(sub, notify, 200, "OK", tag="s1")
            assert finals(collect(peer), "NOTIFY")[0].status == 200
