"""The dialog module's view over JSON-RPC, against a real Kamailio 5.6 and ``kamtool serve``
(same reference cfg): ``dlg.list``/``dlg.list_ctx`` field by field at each phase of a call
(early, answered, acked, ended), the profiles the cfg sets, ``dlg.stats_active``, the
``dialog:`` statistics, and ``dlg.end_dlg`` (the two BYEs it sends, the CDRs it leaves).
Values that must differ (hash ids, times, ports) are checked for shape only."""

from __future__ import annotations

import time
from typing import Any

from tests.interop.test_acc_rows import cdrs
from tests.interop.test_call_flows import (
    SDP,
    Call,
    answer,
    callee_request,
    collect,
    finals,
    phones,
    raw,
    ring,
)
from tests.interop.wire import Msg, Peer

LIFETIME = 7200  # the cfg's dialog default_timeout
# dflags bits (dialog/dlg_hash.h): NEW 1 (answered), CHANGED 2 (refreshed by a request in
# it), HASBYE 4, TM 512 (dlg_manage()), CHANGED_PROF 1024 (set_dlg_profile())
EARLY_FLAGS, ANSWERED_FLAGS, ACKED_FLAGS, BYE_FLAGS = 1536, 1537, 1539, 1543


def dialog(target, call_id: str) -> dict[str, Any] | None:
    """The ``dlg.list`` entry of ``call_id`` (None when no longer listed)."""
    found = [d for d in target.rpc("dlg.list") if d["call-id"] == call_id]
    assert len(found) <= 1, found
    return found[0] if found else None


def stats(target) -> dict[str, int]:
    """``stats.get_statistics dialog:`` as {name: value}."""
    out = {}
    for line in target.rpc("stats.get_statistics", "dialog:"):
        name, _, value = line.partition(" = ")
        out[name.split(":", 1)[1]] = int(value)
    return out


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


def leg(tag: str | None, contact: str | None, cseq: str | None, routes: str | None,
        socket: str | None) -> dict[str, Any]:  # fmt: skip
    return {"tag": tag, "contact": contact, "cseq": cseq, "route_set": routes, "socket": socket}


NO_LEG = leg(None, None, None, None, None)


def check_common(d: dict[str, Any], target, call: Call, to_user: str) -> None:
    """The fields that do not change along the call, with their JSON types."""
    assert isinstance(d["h_entry"], int) and isinstance(d["h_id"], int)
    assert (d["from_uri"], d["to_uri"]) == ("sip:1001@127.0.0.1", f"sip:{to_user}@127.0.0.1")
    assert (d["lifetime"], d["sflags"], d["iflags"], d["variables"]) == (LIFETIME, 0, 0, [])
    assert isinstance(d["init_ts"], int) and abs(d["init_ts"] - time.time()) < 5


def test_dialog_through_its_phases(target):
    """One call with a proxy before us (Record-Route in the INVITE) and one after us (on
    top of the 2xx's Record-Route): dlg.list after each step. kamtool differed: the
    callee's tag was listed from the 180 (Kamailio takes the callee's leg from the 2xx
    only), the caller's route set was null until the 2xx, ref stayed 1, dflags 0, the
    timeout was not restarted by the ACK and stayed set once the dialog ended."""
    before = stats(target)
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        socket = f"udp:127.0.0.1:{target.sip_port}"
        up = f"<sip:127.0.0.1:{caller.port};lr;up=1>"
        call = Call(caller, "1002", (f"Record-Route: {up}",))
        invite = ring(callee)
        collect(caller, 0.2)
        caller_leg = leg("caller1", f"sip:1001@127.0.0.1:{caller.port};transport=udp", "1", up,
                         socket)  # fmt: skip
        early = dialog(target, call.call_id)
        check_common(early, target, call, "1002")
        assert early | {"h_entry": 0, "h_id": 0, "init_ts": 0} == {
            "h_entry": 0, "h_id": 0, "ref": 1, "call-id": call.call_id,
            "from_uri": "sip:1001@127.0.0.1", "to_uri": "sip:1002@127.0.0.1", "state": 2,
            "start_ts": 0, "init_ts": 0, "end_ts": 0, "duration": 0, "timeout": 0,
            "lifetime": LIFETIME, "dflags": EARLY_FLAGS, "sflags": 0, "iflags": 0,
            "caller": caller_leg, "callee": NO_LEG,
            "profiles": [{"callee": "1002"}, {"caller": "1001"}, "inbound"], "variables": [],
        }  # fmt: skip
        assert target.rpc("dlg.stats_active") == {
            "starting": 0, "connecting": 1, "answering": 0, "ongoing": 0, "all": 1
        }  # fmt: skip
        assert delta(stats(target), before) == {
            "active_dialogs": 0, "early_dialogs": 1, "expired_dialogs": 0,
            "failed_dialogs": 0, "processed_dialogs": 1,
        }  # fmt: skip

        # the 2xx, with a proxy after us on top of its Record-Route
        down = f"<sip:127.0.0.1:{callee.port};lr;down=1>"
        at = next(i for i, (n, _) in enumerate(invite.headers) if n == "record-route")
        invite.headers.insert(at, ("record-route", down))
        answer(callee, invite, 200, "OK", body=SDP)
        del invite.headers[at]
        ok = finals(collect(caller))[0]
        answered = dialog(target, call.call_id)
        callee_leg = leg("uas1", f"sip:uas@127.0.0.1:{callee.port};transport=udp", "0", down,
                         socket)  # fmt: skip
        assert (answered["state"], answered["ref"], answered["dflags"]) == (3, 2, ANSWERED_FLAGS)
        assert (answered["caller"], answered["callee"]) == (caller_leg, callee_leg)
        assert answered["start_ts"] >= answered["init_ts"] and answered["end_ts"] == 0
        # Kamailio counts the timeout in timer ticks: a second or two either way
        assert abs(answered["start_ts"] + LIFETIME - answered["timeout"]) <= 2
        assert target.rpc("dlg.stats_active")["answering"] == 1

        # the ACK (our Route only: the caller is the proxy before us)
        ok.headers = [(n, v) for n, v in ok.headers if not (n == "record-route" and v == up)]
        time.sleep(1.6)  # the ACK restarts the lifetime: 1.6 s later, a later timeout
        call.in_dialog(ok, "ACK", 1)
        assert callee.next_request().method == "ACK"
        time.sleep(0.2)
        acked = dialog(target, call.call_id)
        assert (acked["state"], acked["ref"], acked["dflags"]) == (4, 2, ACKED_FLAGS)
        assert acked["timeout"] > answered["timeout"]
        assert abs(acked["timeout"] - (time.time() + LIFETIME)) <= 2
        assert [d for d in target.rpc("dlg.list_ctx") if d["call-id"] == call.call_id] == [acked]
        assert target.rpc("dlg.stats_active") == {
            "starting": 0, "connecting": 0, "answering": 0, "ongoing": 1, "all": 1
        }  # fmt: skip
        expected = {("caller", None): 1, ("caller", "1001"): 1, ("callee", "1002"): 1,
                    ("callee", "1001"): 0, ("inbound", None): 1, ("outbound", None): 0}  # fmt: skip
        for (profile, value), size in expected.items():
            args = [profile, value] if value else [profile]
            assert target.rpc("dlg.profile_get_size", *args) == size, (profile, value)
        assert target.rpc("dlg.profile_list", "callee", "1002") == [acked]

        # the callee's BYE ends it
        callee.send(callee_request(callee, invite, "BYE", 1))
        bye = caller.next_request()
        answer(caller, bye, 200, "OK", tag="caller1")
        assert finals(collect(callee), "BYE")[0].status == 200
        ended = dialog(target, call.call_id)
        if ended is not None:  # both keep it listed a little while in state 5
            assert (ended["state"], ended["ref"], ended["dflags"]) == (5, 1, BYE_FLAGS)
            assert (ended["timeout"], ended["profiles"]) == (0, [])
            assert ended["end_ts"] >= ended["start_ts"]
            assert ended["duration"] == ended["end_ts"] - ended["start_ts"]
        assert target.rpc("dlg.stats_active")["all"] == 0
        assert delta(stats(target), before) == {
            "active_dialogs": 0, "early_dialogs": 0, "expired_dialogs": 0,
            "failed_dialogs": 0, "processed_dialogs": 1,
        }  # fmt: skip


def test_a_failed_call_is_processed_and_failed(target):
    """A call answered 486: Kamailio counts it in processed_dialogs (counted when
    dlg_manage() creates the dialog) as well as in failed_dialogs; kamtool counted only
    answered calls as processed."""
    before = stats(target)
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        call = Call(caller, "1002")
        invite = ring(callee)
        answer(callee, invite, 486, "Busy Here")
        busy = finals(collect(caller))[0]
        assert busy.status == 486
        branch = call.invite.decode().split("branch=", 1)[1].split(";", 1)[0]
        caller.send(raw(caller, "ACK", "sip:1002@127.0.0.1", frm=call.frm, to=busy.get("to"),
                        call_id=call.call_id, cseq=1, branch=branch))  # fmt: skip
        failed = dialog(target, call.call_id)
        assert failed is not None
        check_common(failed, target, call, "1002")
        # never answered: no callee leg (not even the 180's tag); a failed dialog shows
        # end_ts as its duration (start_ts 0), on both
        assert (failed["state"], failed["ref"], failed["dflags"]) == (5, 1, EARLY_FLAGS)
        assert (failed["start_ts"], failed["timeout"], failed["callee"]) == (0, 0, NO_LEG)
        assert failed["caller"]["route_set"] == ""
        assert failed["duration"] == failed["end_ts"] and failed["profiles"] == []
        assert delta(stats(target), before) == {
            "active_dialogs": 0, "early_dialogs": 0, "expired_dialogs": 0,
            "failed_dialogs": 1, "processed_dialogs": 1,
        }  # fmt: skip


def test_dlg_list_is_in_hash_table_order(target):
    """Kamailio walks its hash table: dlg.list is ordered by h_entry, whatever the order
    the calls came in (kamtool listed them oldest first)."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        calls = [Call(caller, "1002") for _ in range(6)]
        invites = [ring(callee) for _ in calls]
        collect(caller, 0.2)
        listed = [d for d in target.rpc("dlg.list") if d["state"] != 5]
        assert {d["call-id"] for d in listed} == {c.call_id for c in calls}
        entries = [d["h_entry"] for d in listed]
        assert entries == sorted(entries)  # six Call-IDs: 1 chance in 720 of coming in so
        for invite in invites:
            answer(callee, invite, 480, "Temporarily Unavailable")
        collect(caller)


def _bye_summary(msg: Msg) -> tuple[str, str, str, str, list[str]]:
    return (msg.first, msg.get("from"), msg.get("to"), msg.get("cseq"), msg.all("route"))


def test_end_dlg_sends_a_bye_each_way_and_leaves_no_cdr(target):
    """``dlg.end_dlg`` on a call the callee re-INVITEd (CSeq 5): the BYE to the callee
    carries the caller's From/To and next CSeq, the one to the caller the callee's (6:
    §12.2.1.1, the callee's own numbering; kamtool sent 2, the caller's, which a caller
    must refuse with 500 after the callee's 5, §12.2.2), each with its route set. The
    BYEs are the proxy's own: no CDR. Kamailio adds ``User-Agent`` (server_signature is
    on by default there); kamtool sends none, as for its replies."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        up = f"<sip:127.0.0.1:{caller.port};lr;up=1>"
        call = Call(caller, "1002", (f"Record-Route: {up}",))
        invite = callee.next_request()
        answer(callee, invite, 200, "OK", body=SDP)
        ok = finals(collect(caller))[0]
        ok.headers = [(n, v) for n, v in ok.headers if not (n == "record-route" and v == up)]
        call.in_dialog(ok, "ACK", 1)
        assert callee.next_request().method == "ACK"
        callee.send(callee_request(callee, invite, "INVITE", 5, body=SDP))
        reinvite = caller.next_request()
        answer(caller, reinvite, 200, "OK", tag="caller1", body=SDP)
        collect(callee, 0.3)
        callee.send(callee_request(callee, invite, "ACK", 5))
        assert caller.next_request().method == "ACK"
        time.sleep(0.2)
        d = dialog(target, call.call_id)
        assert d["state"] == 4 and (d["caller"]["cseq"], d["callee"]["cseq"]) == ("1", "5")

        assert target.rpc("dlg.end_dlg", d["h_entry"], d["h_id"]) == {}
        to_callee, to_caller = callee.next_request(), caller.next_request()
        assert _bye_summary(to_callee) == (
            f"BYE sip:uas@127.0.0.1:{callee.port};transport=udp SIP/2.0",
            "<sip:1001@127.0.0.1>;tag=caller1", "<sip:1002@127.0.0.1>;tag=uas1", "2 BYE", [],
        )  # fmt: skip
        assert _bye_summary(to_caller) == (
            f"BYE sip:1001@127.0.0.1:{caller.port};transport=udp SIP/2.0",
            "<sip:1002@127.0.0.1>;tag=uas1", "<sip:1001@127.0.0.1>;tag=caller1", "6 BYE", [up],
        )  # fmt: skip
        for bye in (to_callee, to_caller):
            assert bye.get("call-id") == call.call_id and bye.get("max-forwards") == "70"
            assert len(bye.all("via")) == 1
            assert bye.all("user-agent") == (
                ["kamailio (5.6.3 (x86_64/linux))"] if target.name == "kamailio" else []
            )
        answer(callee, to_callee, 200, "OK")
        answer(caller, to_caller, 200, "OK", tag="caller1")
        time.sleep(0.3)
        # Kamailio drops the dialog once both BYEs are answered; kamtool lists it ended
        # for a few seconds more (as after any BYE), out of the profiles and counts
        ended = dialog(target, call.call_id)
        if target.name == "kamailio":
            assert ended is None
        else:
            assert (ended["state"], ended["timeout"], ended["profiles"]) == (5, 0, [])
        assert target.rpc("dlg.profile_get_size", "callee", "1002") == 0
        assert target.rpc("dlg.stats_active")["all"] == 0
        assert cdrs(target, [call.call_id], 1) == [
            ("acc", 0, "INVITE", "caller1", "uas1", "200", "OK")
        ]
