"""In-dialog flows through the proxy, against a real Kamailio 5.6 and ``kamtool serve`` (same
reference cfg): UPDATE in early and confirmed dialogs, re-INVITE glare (491), a re-INVITE
refused (488) or CANCELled, a BYE crossing a re-INVITE, INFO/MESSAGE both ways, PRACK and
UPDATE to one of several early dialogs of a fork, preloaded Route sets and a route set
with two of our own Record-Routes. Each case checks what reaches the far peer (R-URI,
Route, Via count, Max-Forwards), the status codes, and the dialog ``dlg.list`` shows."""

from __future__ import annotations

from tests.interop.test_acc_rows import cdrs
from tests.interop.test_call_flows import (
    CALLER_TAG,
    SDP,
    Call,
    _answered,
    answer,
    callee_request,
    collect,
    finals,
    phones,
    raw,
    requests,
)
from tests.interop.test_dialog_rpc import dialog
from tests.interop.wire import Msg, Peer

SDP_TYPE = "Content-Type: application/sdp"


def hop(msg: Msg) -> tuple[str, list[str], int, str]:
    """What a forwarded request looks like to its receiver: first line, Route headers,
    Via count, Max-Forwards."""
    return (msg.first, msg.all("route"), len(msg.all("via")), msg.get("max-forwards"))


def to_callee(method: str, callee: Peer) -> tuple[str, list[str], int, str]:
    return (f"{method} sip:uas@127.0.0.1:{callee.port};transport=udp SIP/2.0", [], 2, "69")


def to_caller(method: str, caller: Peer) -> tuple[str, list[str], int, str]:
    return (f"{method} sip:1001@127.0.0.1:{caller.port};transport=udp SIP/2.0", [], 2, "69")


def branch_of(data: bytes) -> str:
    return data.decode().split("branch=", 1)[1].split(";", 1)[0]


def state(target, call: Call) -> int | None:
    d = dialog(target, call.call_id)
    return None if d is None else d["state"]


def bye_ends(target, call: Call, ok: Msg, caller: Peer, callee: Peer, cseq: int) -> None:
    """The caller's BYE reaches the callee and ends the dialog."""
    call.in_dialog(ok, "BYE", cseq)
    bye = callee.next_request()
    assert hop(bye) == to_callee("BYE", callee)
    answer(callee, bye, 200, "OK")
    assert finals(collect(caller), "BYE")[0].status == 200
    assert state(target, call) in (None, 5)


# ------------------------------------------------------------------ UPDATE


def test_update_in_the_early_dialog_both_ways(target):
    """RFC 3311 in the early dialog a 183 with a To tag set up: the caller's UPDATE goes to
    the callee's Contact along the 183's Record-Route, the callee's to the caller's."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = callee.next_request()
        answer(callee, invite, 183, "Session Progress", body=SDP)
        progress = [m for m in collect(caller) if m.status == 183][0]
        assert progress.all("record-route") == invite.all("record-route") != []
        call.in_dialog(progress, "UPDATE", 2, (SDP_TYPE,), body=SDP)
        update = callee.next_request()
        assert hop(update) == to_callee("UPDATE", callee)
        assert update.body.decode() == SDP
        answer(callee, update, 200, "OK", body=SDP, headers=[SDP_TYPE])
        assert finals(collect(caller), "UPDATE")[0].status == 200
        callee.send(callee_request(callee, invite, "UPDATE", 1, body=SDP))
        update = caller.next_request()
        assert hop(update) == to_caller("UPDATE", caller)
        assert update.get("to").endswith(f"tag={CALLER_TAG}")
        answer(caller, update, 200, "OK", tag=CALLER_TAG)
        assert finals(collect(callee), "UPDATE")[0].status == 200
        early = dialog(target, call.call_id)
        # still early (UPDATE answers no INVITE), each side's CSeq noted and the dialog
        # marked changed (dflags CHANGED 2, as dlg_update_cseq(); kamtool left it unset)
        assert (early["state"], early["dflags"]) == (2, 1538)
        assert (early["caller"]["cseq"], early["callee"]["cseq"]) == ("2", "1")
        answer(callee, invite, 200, "OK", body=SDP)
        ok = finals(collect(caller))[0]
        call.in_dialog(ok, "ACK", 1)
        assert callee.next_request().method == "ACK"
        assert dialog(target, call.call_id)["callee"]["cseq"] == "1"
        # the confirmed dialog: the callee updates again (its CSeq goes on from 1)
        callee.send(callee_request(callee, invite, "UPDATE", 2, body=SDP))
        update = caller.next_request()
        assert hop(update) == to_caller("UPDATE", caller)
        answer(caller, update, 200, "OK", tag=CALLER_TAG)
        assert finals(collect(callee), "UPDATE")[0].status == 200
        confirmed = dialog(target, call.call_id)
        # the callee's CSeq goes on from its early UPDATE: the 2xx does not reset it to 0
        # (populate_leg_info keeps dlg->cseq[callee]; kamtool's said 0 until the UPDATE)
        assert (confirmed["state"], confirmed["callee"]["cseq"]) == (4, "2")
        bye_ends(target, call, ok, caller, callee, 3)


# ------------------------------------------------------------------ re-INVITE


def test_reinvite_glare_491_both_ways_then_488_keeps_the_dialog(target):
    """Both sides re-INVITE at once (RFC 3261 §14.1): each answers 491, each 491 goes
    back hop by hop (the proxy ACKs it, absorbs the UA's ACK). A re-INVITE refused with
    488 leaves the dialog up; the next one's 2xx is ACKed end to end."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        br = f"z9hG4bK-glare-{caller.port}"
        call.in_dialog(ok, "INVITE", 2, (SDP_TYPE,), body=SDP, branch=br)
        callee.send(callee_request(callee, invite, "INVITE", 1, body=SDP))
        from_caller, from_callee = callee.next_request(), caller.next_request()
        assert hop(from_caller) == to_callee("INVITE", callee)
        assert hop(from_callee) == to_caller("INVITE", caller)
        answer(callee, from_caller, 491, "Request Pending")
        answer(caller, from_callee, 491, "Request Pending", tag=CALLER_TAG)
        got_caller, got_callee = collect(caller), collect(callee)
        # (sets: a 491 not yet ACKed is retransmitted over UDP, Timer G)
        assert {m.status for m in finals(got_caller)} == {491}
        assert {m.status for m in finals(got_callee)} == {491}
        # the proxy's own ACK of each 491 (§17.1.1.3: its client transaction's branch)
        assert [a.get("via") for a in requests(got_callee, "ACK")][:1] == [
            from_caller.all("via")[0]
        ]
        assert [a.get("via") for a in requests(got_caller, "ACK")][:1] == [
            from_callee.all("via")[0]
        ]
        call.in_dialog(ok, "ACK", 2, branch=br)  # the caller's ACK: hop by hop, absorbed
        assert requests(collect(callee, 0.4), "ACK") == []
        assert state(target, call) == 4

        call.in_dialog(ok, "INVITE", 3, (SDP_TYPE,), body=SDP, branch=br + "-2")
        refused = callee.next_request()
        answer(callee, refused, 488, "Not Acceptable Here")
        # the proxy's ACK of the 488 carries the re-INVITE's hop count, as tm's build_local
        # (kamtool's said 70)
        acks = requests(collect(callee), "ACK")
        assert [hop(a) for a in acks][:1] == [to_callee("ACK", callee)[:2] + (1, "69")]
        assert {m.status for m in finals(collect(caller)) if m.get("cseq") == "3 INVITE"} == {488}
        call.in_dialog(ok, "ACK", 3, branch=br + "-2")
        assert state(target, call) == 4  # a failed re-INVITE ends nothing (§14.1)

        call.in_dialog(ok, "INVITE", 4, (SDP_TYPE,), body=SDP)
        accepted = requests(collect(callee), "INVITE")[0]
        assert hop(accepted) == to_callee("INVITE", callee)
        answer(callee, accepted, 200, "OK", body=SDP, headers=[SDP_TYPE])
        assert [m.status for m in finals(collect(caller))] == [200]
        call.in_dialog(ok, "ACK", 4)
        ack = callee.next_request()
        assert hop(ack) == to_callee("ACK", callee) and ack.get("cseq") == "4 ACK"
        bye_ends(target, call, ok, caller, callee, 5)


def test_cancel_of_a_reinvite_keeps_the_dialog(target):
    """A CANCEL of a re-INVITE (it has the dialog's To tag) matches the re-INVITE's
    transaction and goes on; the 487 ends the re-INVITE only, not the dialog."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        br = f"z9hG4bK-rcancel-{caller.port}"
        call.in_dialog(ok, "INVITE", 2, (SDP_TYPE,), body=SDP, branch=br)
        reinvite = callee.next_request()
        answer(callee, reinvite, 100, "Trying")
        collect(caller, 0.3)
        routes = [f"Route: {r}" for r in reversed(ok.all("record-route"))]
        caller.send(raw(caller, "CANCEL", ok.get("contact").strip("<>"), frm=call.frm,
                        to=ok.get("to"), call_id=call.call_id, cseq=2, headers=routes,
                        branch=br))  # fmt: skip
        assert [(m.status, m.reason) for m in finals(collect(caller), "CANCEL")] == [
            (200, "canceling")
        ]
        cancel = callee.next_request()
        assert hop(cancel)[0] == reinvite.first.replace("INVITE", "CANCEL", 1)
        assert cancel.get("via") == reinvite.all("via")[0] and cancel.get("cseq") == "2 CANCEL"
        assert cancel.get("max-forwards") == "69"  # the re-INVITE's (kamtool's said 70)
        answer(callee, cancel, 200, "OK")
        answer(callee, reinvite, 487, "Request Terminated")
        assert requests(collect(callee), "ACK")
        assert {m.status for m in finals(collect(caller))} == {487}
        call.in_dialog(ok, "ACK", 2, branch=br)
        assert state(target, call) == 4  # the 487 ends the re-INVITE only
        bye_ends(target, call, ok, caller, callee, 3)


def test_bye_crossing_a_reinvite(target):
    """The callee hangs up while the caller's re-INVITE is pending there: the BYE goes
    through and ends the dialog, the re-INVITE's 487 still reaches the caller."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        call.in_dialog(ok, "INVITE", 2, (SDP_TYPE,), body=SDP)
        reinvite = callee.next_request()
        callee.send(callee_request(callee, invite, "BYE", 1))
        bye = caller.next_request()
        assert hop(bye) == to_caller("BYE", caller)
        answer(caller, bye, 200, "OK", tag=CALLER_TAG)
        assert finals(collect(callee), "BYE")[0].status == 200
        answer(callee, reinvite, 487, "Request Terminated")  # §15.1.2
        assert {m.status for m in finals(collect(caller))} == {487}
        assert state(target, call) in (None, 5)
        # acc: the call and its BYE; the re-INVITE (no acc flag in WITHINDLG) none
        assert cdrs(target, [call.call_id], 2) == [
            ("acc", 0, "INVITE", CALLER_TAG, "uas1", "200", "OK"),
            ("acc", 0, "BYE", "uas1", CALLER_TAG, "200", "OK"),
        ]


# ------------------------------------------------------------------ INFO and MESSAGE


def test_info_and_message_both_ways(target):
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        info = ("Content-Type: application/dtmf-relay", "Info-Package: dtmf")
        for cseq, method in enumerate(("INFO", "MESSAGE"), start=2):
            call.in_dialog(ok, method, cseq, info, body="Signal=5\r\n")
            got = callee.next_request()
            assert hop(got) == to_callee(method, callee) and got.body == b"Signal=5\r\n"
            answer(callee, got, 200, "OK")
            assert finals(collect(caller), method)[0].status == 200
        for cseq, method in enumerate(("INFO", "MESSAGE"), start=1):
            callee.send(callee_request(callee, invite, method, cseq, body="hi"))
            got = caller.next_request()
            assert hop(got) == to_caller(method, caller) and got.body == b"hi"
            answer(caller, got, 415 if method == "INFO" else 202, "X", tag=CALLER_TAG)
            assert [m.status for m in finals(collect(callee), method)] == [
                415 if method == "INFO" else 202
            ]
        assert state(target, call) == 4  # a failed INFO ends nothing (RFC 5057)
        bye_ends(target, call, ok, caller, callee, 4)


# ------------------------------------------------------------------ forked early dialogs


def test_prack_and_update_to_one_of_two_early_dialogs(target):
    """A fork with two 180s (different To tags, each with 100rel): the PRACK goes to the
    branch whose early dialog it names, the UPDATE to the other; neither leaks."""
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1003", ("Supported: 100rel",))
        invite_b, invite_c = b.next_request(), c.next_request()
        rel = ["Require: 100rel", "RSeq: 1"]
        answer(b, invite_b, 180, "Ringing", tag="b1", headers=rel)
        answer(c, invite_c, 180, "Ringing", tag="c1", headers=rel)
        rings = {m.get("to").rsplit("tag=", 1)[1]: m for m in collect(caller) if m.status == 180}
        assert set(rings) == {"b1", "c1"}
        call.in_dialog(rings["c1"], "PRACK", 2, ("RAck: 1 1 INVITE",))
        prack = c.next_request()
        assert hop(prack) == to_callee("PRACK", c) and prack.get("to").endswith("tag=c1")
        answer(c, prack, 200, "OK", tag="c1")
        assert finals(collect(caller), "PRACK")[0].status == 200
        call.in_dialog(rings["b1"], "UPDATE", 3, (SDP_TYPE,), body=SDP)
        update = b.next_request()
        assert hop(update) == to_callee("UPDATE", b) and update.get("to").endswith("tag=b1")
        answer(b, update, 200, "OK", tag="b1")
        assert finals(collect(caller), "UPDATE")[0].status == 200
        assert not [m for m in collect(c, 0.3) if m.method in ("UPDATE", "PRACK")]
        assert not [m for m in collect(b, 0.1) if m.method == "PRACK"]
        early = dialog(target, call.call_id)  # one dialog for both branches, still early
        assert (early["state"], early["dflags"], early["caller"]["cseq"]) == (2, 1538, "3")
        answer(b, invite_b, 200, "OK", tag="b1", body=SDP)
        cancel = c.next_request()
        assert cancel.method == "CANCEL"
        answer(c, cancel, 200, "OK", tag="c1")
        answer(c, invite_c, 487, "Request Terminated", tag="c1")
        ok = finals(collect(caller))[0]
        assert ok.get("to").endswith("tag=b1")
        call.in_dialog(ok, "ACK", 1)
        assert b.next_request().method == "ACK"
        bye_ends(target, call, ok, caller, b, 4)


# ------------------------------------------------------------------ route sets


def test_preloaded_route_on_an_initial_request_is_dropped(target):
    """The cfg's remove_hf("Route") before record_route(): an initial INVITE or MESSAGE
    with a preloaded route set (ours, then another proxy) goes to the registered contact
    with no Route at all (the other proxy is not visited)."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        preload = [f"Route: <sip:127.0.0.1:{target.sip_port};lr>",
                   "Route: <sip:other.invalid;lr>"]  # fmt: skip
        call = Call(caller, "1002", tuple(preload))
        invite = callee.next_request()
        assert hop(invite) == (f"INVITE sip:1002@127.0.0.1:{callee.port};transport=udp SIP/2.0",
                               [], 2, "69")  # fmt: skip
        assert len(invite.all("record-route")) == 1
        answer(callee, invite, 486, "Busy Here")
        assert {m.status for m in finals(collect(caller), call=call)} == {486}
        assert requests(collect(callee, 0.2), "ACK")  # the proxy's, hop by hop
        caller.send(raw(caller, "MESSAGE", "sip:1002@127.0.0.1", frm="<sip:1001@127.0.0.1>;tag=m",
                        to="<sip:1002@127.0.0.1>", call_id=f"pre-{caller.port}@x", cseq=1,
                        headers=preload, body="hello"))  # fmt: skip
        message = requests(collect(callee), "MESSAGE")[0]
        assert hop(message) == (
            f"MESSAGE sip:1002@127.0.0.1:{callee.port};transport=udp SIP/2.0",
            [],
            2,
            "69",
        )
        assert message.all("record-route") == []
        answer(callee, message, 200, "OK")
        assert finals(collect(caller), "MESSAGE")[0].status == 200


def test_route_set_with_two_of_our_record_routes(target):
    """An in-dialog BYE whose route set names us twice (a call that spiralled through the
    proxy): the request passes through us as many times as the route set says."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        ours = ok.all("record-route")[0]
        routes = [f"Route: {ours}", f"Route: {ours}"]
        caller.send(raw(caller, "BYE", ok.get("contact").strip("<>"), frm=call.frm,
                        to=ok.get("to"), call_id=call.call_id, cseq=2, headers=routes))  # fmt: skip
        bye = callee.next_request()
        # §16.4: the proxy takes off the top Route only, and the next one sends the BYE
        # to itself again: two Vias of ours, Max-Forwards down twice (Kamailio). kamtool
        # took both Routes off at once (one pass: 2 Vias, 69); the second is taken off
        # in the same pass only when both carry r2=on (a double Record-Route of its own)
        assert hop(bye) == (f"BYE sip:uas@127.0.0.1:{callee.port};transport=udp SIP/2.0", [],
                            3, "68")  # fmt: skip
        vias = bye.all("via")
        assert vias[0].split(";branch=")[0] == vias[1].split(";branch=")[0]
        answer(callee, bye, 200, "OK")
        assert [m.status for m in finals(collect(caller), "BYE")] == [200]
        assert state(target, call) in (None, 5)


# ------------------------------------------------------------------ target refresh


def test_target_refresh_moves_the_contact_dlg_list_shows(target):
    """The contact dlg.list shows for each side (where dlg.end_dlg sends its BYE) after
    target refreshes with a new Contact. RFC 3261 §12.2, RFC 3311 §5.1, RFC 6141 §3.3: a
    re-INVITE or an UPDATE answered 2xx moves the remote target, a refused one leaves it.
    Kamailio 5.6's dialog module takes the Contact of every re-INVITE request, even one
    refused (488 here), and never an UPDATE's: a bug, kamtool does the RFC's."""
    kamailio = target.name == "kamailio"
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call, invite, ok = _answered(target, caller, callee)
        routes = [f"Route: {r}" for r in reversed(ok.all("record-route"))]

        def refresh(method: str, cseq: int, user: str, code: int) -> str:
            contact = f"sip:{user}@127.0.0.1:{caller.port}"
            br = f"z9hG4bK-refresh-{caller.port}-{cseq}"
            caller.send(raw(caller, method, ok.get("contact").strip("<>"), frm=call.frm,
                            to=ok.get("to"), call_id=call.call_id, cseq=cseq,
                            headers=[*routes, f"Contact: <{contact}>"], branch=br))  # fmt: skip
            got = callee.next_request()
            assert hop(got) == to_callee(method, callee)
            answer(callee, got, code, "OK" if code == 200 else "Not Acceptable Here")
            got = finals(collect(caller), f"{cseq} {method}")
            assert {m.status for m in got} == {code}
            if method == "INVITE":  # a 488's ACK hop by hop (its branch), a 200's end to end
                caller.send(raw(caller, "ACK", ok.get("contact").strip("<>"), frm=call.frm,
                                to=ok.get("to"), call_id=call.call_id, cseq=cseq,
                                headers=routes, branch=br if code > 299 else ""))  # fmt: skip
                collect(callee, 0.3)  # the ACK: the proxy's (488) or the caller's (200)
            return contact

        first = f"sip:1001@127.0.0.1:{caller.port};transport=udp"
        refused = refresh("INVITE", 2, "c2", 488)
        assert dialog(target, call.call_id)["caller"]["contact"] == (refused if kamailio else first)
        updated = refresh("UPDATE", 3, "c3", 200)
        assert dialog(target, call.call_id)["caller"]["contact"] == (
            refused if kamailio else updated
        )
        moved = refresh("INVITE", 4, "c4", 200)
        assert dialog(target, call.call_id)["caller"]["contact"] == moved
        bye_ends(target, call, ok, caller, callee, 5)
