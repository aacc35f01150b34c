"""Accounting rows, row by row, against a real Kamailio 5.6 and ``kamtool serve`` (same
reference cfg): what lands in ``acc`` and ``missed_calls`` for each call flow, every
column (the cfg defines no extra ones), how many rows per call and which requests are
accounted. Only the time is compared for shape (a Julian day, as db_sqlite stores it)
and the Call-IDs are the peers' own. Both servers wrote the same rows in every flow
audited; these tests keep it so."""

from __future__ import annotations

import sqlite3
import time

from kamtool.db.fields import julian_to_unix
from tests.interop.test_call_flows import (
    SDP,
    Call,
    answer,
    callee_request,
    collect,
    finals,
    phones,
    raw,
    requests,
    ring,
)
from tests.interop.wire import Msg, Peer

COLUMNS = ["id", "method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"]


def cdrs(target, call_ids: list[str], expect: int, wait: float = 3.0) -> list[tuple]:
    """(table, method, from_tag, to_tag, sip_code, sip_reason) of the rows of ``call_ids``
    in both tables, table by table in insertion order, once ``expect`` rows are there
    (kamtool writes from a thread) and a moment more (no extra row may follow)."""
    deadline, settled = time.monotonic() + wait, 0.0
    while True:
        rows = _rows(target, call_ids)
        if len(rows) >= expect and not settled:
            settled = time.monotonic() + 0.3
        if (settled and time.monotonic() >= settled) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _rows(target, call_ids: list[str]) -> list[tuple]:
    db = sqlite3.connect(target.db_file, timeout=10)
    out = []
    try:
        for table in ("acc", "missed_calls"):
            marks = ",".join("?" * len(call_ids))
            for row in db.execute(
                f"SELECT method, from_tag, to_tag, callid, sip_code, sip_reason, time,"
                f" typeof(time) FROM {table} WHERE callid IN ({marks}) ORDER BY id",
                call_ids,
            ):
                method, ftag, ttag, callid, code, reason, when, kind = row
                assert kind == "real" and abs(julian_to_unix(when) - time.time()) < 60, row
                out.append((table, call_ids.index(callid), method, ftag, ttag, code, reason))
    finally:
        db.close()
    return out


def ack_failure(caller: Peer, call: Call, final: Msg) -> None:
    """The caller's ACK of a non-2xx final reply (hop by hop, the INVITE's branch)."""
    branch = call.invite.decode().split("branch=", 1)[1].split(";", 1)[0]
    uri = call.invite.decode().split(" ", 2)[1]
    caller.send(raw(caller, "ACK", uri, frm=call.frm, to=final.get("to"),
                    call_id=call.call_id, cseq=1, branch=branch))  # fmt: skip


def answered(caller: Peer, callee: Peer) -> tuple[Call, Msg, Msg]:
    """A call to 1002 answered and acked: (call, INVITE as the callee got it, 200)."""
    call = Call(caller, "1002")
    invite = ring(callee)
    answer(callee, invite, 200, "OK", body=SDP)
    ok = finals(collect(caller), call=call)[0]
    call.in_dialog(ok, "ACK", 1)
    assert callee.next_request().method == "ACK"
    return call, invite, ok


def test_table_columns(target):
    """The cfg adds no extra columns (no acc_extra): the standard acc schema on both."""
    db = sqlite3.connect(target.db_file, timeout=10)
    try:
        for table in ("acc", "missed_calls"):
            assert [r[1] for r in db.execute(f"PRAGMA table_info({table})")] == COLUMNS
    finally:
        db.close()


def test_answered_calls_one_row_per_invite_and_bye(target):
    """An INVITE answered 2xx and its BYE are one acc row each; the BYE keeps its own
    From/To tags (detect_direction 0), so a callee's BYE has them swapped. A re-INVITE,
    its ACK and a MESSAGE inside the call are not accounted (the cfg flags only initial
    INVITEs and in-dialog BYEs)."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        first, _, ok = answered(caller, callee)
        for cseq, method in ((2, "INVITE"), (3, "MESSAGE")):
            first.in_dialog(ok, method, cseq, body=SDP if method == "INVITE" else "hi")
            answer(callee, callee.next_request(), 200, "OK", body=SDP)
            assert finals(collect(caller), method)[0].status == 200
            if method == "INVITE":
                first.in_dialog(ok, "ACK", 2)
                assert callee.next_request().method == "ACK"
        first.in_dialog(ok, "BYE", 4)
        answer(callee, callee.next_request(), 200, "OK")
        assert finals(collect(caller), "BYE")[0].status == 200

        second, invite, _ = answered(caller, callee)
        callee.send(callee_request(callee, invite, "BYE", 1))
        answer(caller, caller.next_request(), 200, "OK", tag="caller1")
        assert finals(collect(callee), "BYE")[0].status == 200
        rows = cdrs(target, [first.call_id, second.call_id], 4)
    assert rows == [
        ("acc", 0, "INVITE", "caller1", "uas1", "200", "OK"),
        ("acc", 0, "BYE", "caller1", "uas1", "200", "OK"),
        ("acc", 1, "INVITE", "caller1", "uas1", "200", "OK"),
        ("acc", 1, "BYE", "uas1", "caller1", "200", "OK"),
    ]


def test_failed_calls_and_a_refused_bye(target):
    """Busy (486 after a 180) and cancelled while ringing (487): one missed_calls row
    each, with the callee's tag and reason, no acc row (no failed_transaction_flag on
    INVITEs). A call to a user not registered is answered 404 by the route before
    setflag(FLT_ACCMISSED): no row at all. A BYE the callee refuses (481) is an acc row
    (the cfg flags in-dialog BYEs FLT_ACC + FLT_ACCFAILED)."""
    with phones(target, "1002") as (callee,), Peer("udp", target.sip_port) as caller:
        busy = Call(caller, "1002")
        answer(callee, ring(callee), 486, "Busy Here")
        final = finals(collect(caller), call=busy)[0]
        ack_failure(caller, busy, final)
        collect(callee, 0.2)  # the proxy's ACK of the 486

        cancelled = Call(caller, "1002")
        invite = ring(callee)
        collect(caller, 0.2)
        cancelled.cancel()
        answer(callee, requests(collect(callee), "CANCEL")[0], 200, "OK")
        answer(callee, invite, 487, "Request Terminated")
        ack_failure(caller, cancelled, finals(collect(caller), call=cancelled)[0])
        collect(callee, 0.2)

        offline = Call(caller, "1003")
        final = finals(collect(caller), call=offline)[0]
        assert (final.status, final.reason) == (404, "Not Found")
        ack_failure(caller, offline, final)

        refused, _, ok = answered(caller, callee)
        refused.in_dialog(ok, "BYE", 2)
        answer(callee, callee.next_request(), 481, "Call/Transaction Does Not Exist")
        assert finals(collect(caller), "BYE")[0].status == 481
        ids = [busy.call_id, cancelled.call_id, offline.call_id, refused.call_id]
        rows = cdrs(target, ids, 4)
    assert rows == [
        ("acc", 3, "INVITE", "caller1", "uas1", "200", "OK"),
        ("acc", 3, "BYE", "caller1", "uas1", "481", "Call/Transaction Does Not Exist"),
        ("missed_calls", 0, "INVITE", "caller1", "uas1", "486", "Busy Here"),
        ("missed_calls", 1, "INVITE", "caller1", "uas1", "487", "Request Terminated"),
    ]


def test_forked_calls_are_one_row_for_the_winning_reply(target):
    """1003 on two phones: one busy and one answering is a single acc row with the
    answering branch's tag; both failing is a single missed_calls row for the reply that
    went upstream (404 beats 486), not one per branch. A MESSAGE outside a dialog is
    never accounted."""
    with phones(target, "1003", 2) as (b, c), Peer("udp", target.sip_port) as caller:
        calls = []
        for code, reason in ((404, "Not Found"), (200, "OK")):
            call = Call(caller, "1003")
            calls.append(call)
            invite_b, invite_c = ring(b, "b1"), ring(c, "c1")
            answer(b, invite_b, 486, "Busy Here", tag="b1")
            collect(b, 0.2)
            answer(c, invite_c, code, reason, tag="c1", body=SDP if code == 200 else "")
            final = finals(collect(caller), call=call)[0]
            assert (final.status, final.reason) == (code, reason)
            if code >= 300:
                ack_failure(caller, call, final)
                collect(c, 0.2)
        message = raw(caller, "MESSAGE", "sip:1003@127.0.0.1", frm="<sip:1001@127.0.0.1>;tag=m1",
                      to="<sip:1003@127.0.0.1>", call_id=f"msg-{caller.port}@127.0.0.1",
                      cseq=1, body="hello")  # fmt: skip
        caller.send(message)
        for phone in (b, c):
            answer(phone, phone.next_request(), 200, "OK", tag="m")
        assert finals(collect(caller), "MESSAGE")[0].status == 200
        rows = cdrs(target, [calls[0].call_id, calls[1].call_id, f"msg-{caller.port}@127.0.0.1"], 2)
    assert rows == [
        ("acc", 1, "INVITE", "caller1", "c1", "200", "OK"),
        ("missed_calls", 0, "INVITE", "caller1", "c1", "404", "Not Found"),
    ]
