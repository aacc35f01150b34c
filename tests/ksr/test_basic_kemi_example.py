"""Kamailio's Python KEMI example (``kamailio-basic-kemi-python.py`` as Debian ships it, run
unmodified) on a real Kamailio 5.6 with app_python3 and on ``kamtool serve --route``: the
same requests get the same replies and leave the same rows in the database.

The peers are sipsak, SIPp and the interop battery's hand-written peer; 127.0.0.1 is one of
the server's own addresses, so the script's flood check (``is_myself($si)``) spares them
(the flood test sends from 127.0.0.3), and it is not a trusted address
(``allow_source_address(1)``), so every call is challenged. Users: 1001 calls, 1002
answers, 1003 registers."""

from __future__ import annotations

import re
import socket
import subprocess
import time

import pytest

from tests.interop.test_sipp import message_rows, successful_calls
from tests.interop.test_sipsak import replies
from tests.interop.wire import Peer, digest_answer, parse, register
from tests.ksr.outside import (
    ForeignUA,
    ack_for,
    ask_authenticated,
    next_request,
    sipp,
    sipp_args,
    sipp_uas,
    sipsak_register,
)
from tests.support.cli import invoke
from tests.support.ports import free_port, low_free_port

# location columns that legitimately differ between two servers (or two runs): the row id,
# usrloc's unique id (ruid), the clock (expires, last_modified: checked as a difference),
# the Call-ID each tool run picks, and Kamailio's internal usrloc partition (timer slot)
LOCATION_VARIES = ("id", "ruid", "expires", "last_modified", "callid", "partition")
CALLS = 20


def location(target, user: str) -> list[dict]:
    """``user``'s location rows without :data:`LOCATION_VARIES`, after checking that each
    expires 600 s after it was written."""
    rows = target.location_rows(user)
    for row in rows:
        assert abs((row["expires"] - row["last_modified"]) * 86400 - 600) < 2, row
    return [{k: v for k, v in row.items() if k not in LOCATION_VARIES} for row in rows]


def contact_row(user: str, contact: str, sip_port: int, **changes) -> dict:
    """The location row Kamailio 5.6 writes for a plain UDP registration with this cfg."""
    row = {
        "username": user, "domain": None, "contact": contact, "received": None,
        "path": None, "q": -1.0, "cseq": 2, "flags": 0, "cflags": 0, "user_agent": "",
        "socket": f"udp:127.0.0.1:{sip_port}", "methods": None, "instance": None,
        "reg_id": 0, "server_id": 0, "connection_id": -1, "keepalive": 0,
    }  # fmt: skip
    row.update(changes)
    return row


@pytest.fixture(autouse=True)
def _no_registrations_left(target):
    """Each test starts with 1002 and 1003 unregistered (also after a failed test)."""
    yield
    with Peer("udp", target.sip_port) as p:
        for user in ("1002", "1003"):
            assert register(p, user, ["Contact: *", "Expires: 0"]).status == 200


def eventually(read, done, timeout: float = 5.0):
    """``read()`` until ``done(value)`` or ``timeout`` seconds; the last value either way."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def test_sipsak_registers_with_digest(target):
    """401 then 200. sipsak's Via names another port than the one it sends from, which
    ``nat_uac_test(19)`` takes for NAT: the contact is stored with its source as
    ``received``, the NAT branch flags (cflags 64+128) and NAT keepalives on."""
    port = low_free_port()
    res = sipsak_register(target.sip_port, "1003", port)
    assert res.returncode == 0, res.stdout + res.stderr
    got = replies(res.stdout + res.stderr)
    assert [r.status for r in got] == [401, 200], res.stdout
    # auth_challenge($fd, 0): flags 0, no qop offered
    assert re.fullmatch(r'Digest realm="127\.0\.0\.1", nonce="[^"]+"',
                        got[0].get("www-authenticate"))  # fmt: skip
    source = re.search(r";rport=(\d+)", got[1].get("via")).group(1)
    received = f"sip:127.0.0.1:{source}"
    assert got[1].get("contact") == (
        f'<sip:1003@127.0.0.1:{port}>;expires=600;received="{received}"'
    )
    assert location(target, "1003") == [
        contact_row("1003", f"sip:1003@127.0.0.1:{port}", target.sip_port, received=received,
                    cflags=192, keepalive=1, user_agent="sipsak 0.9.8.1")
    ]  # fmt: skip
    gone = sipsak_register(target.sip_port, "1003", port, expires=0)
    assert gone.returncode == 0, gone.stdout
    assert target.location_rows("1003") == []


def test_sipp_registers_with_digest(target):
    """SIPp's scenario insists on 401 then 200; the row is a plain contact."""
    port = free_port()
    res = sipp(target.sip_port, "register.xml", port, "-m", "1", "-s", "1003",
               "-au", "1003", "-ap", "secret1003", "-set", "expires", "600")  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:]
    assert [r[0] for r in message_rows(res.stdout, "401")] == [1]
    assert location(target, "1003") == [
        contact_row("1003", f"sip:1003@127.0.0.1:{port};transport=UDP", target.sip_port,
                    user_agent="kamtool-test-sipp")
    ]  # fmt: skip
    with Peer("udp", target.sip_port) as p:
        assert register(p, "1003", ["Contact: *", "Expires: 0"]).status == 200
    assert target.location_rows("1003") == []


def test_sipp_registers_over_tcp(target):
    """Over TCP the row names the TCP socket and the connection it came on (the id is the
    server's own number: only its presence is compared)."""
    port = free_port()
    res = sipp(target.sip_port, "register.xml", port, "-t", "t1", "-m", "1", "-s", "1003",
               "-au", "1003", "-ap", "secret1003", "-set", "expires", "600")  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:]
    (row,) = location(target, "1003")
    assert row.pop("connection_id") > 0
    assert row == {
        k: v
        for k, v in contact_row("1003", f"sip:1003@127.0.0.1:{port};transport=TCP",
                                target.sip_port, user_agent="kamtool-test-sipp",
                                socket=f"tcp:127.0.0.1:{target.sip_port}").items()
        if k != "connection_id"
    }  # fmt: skip


def test_wrong_password_is_challenged_again(target):
    with Peer("udp", target.sip_port) as p:
        uri = f"sip:127.0.0.1:{target.sip_port}"
        first = p.ask(p.request("REGISTER", uri, from_user="1003", to="<sip:1003@127.0.0.1>",
                                headers=["Contact: <sip:1003@127.0.0.1:5999>"]))  # fmt: skip
        assert first.status == 401
        auth = digest_answer(first.get("www-authenticate"), "REGISTER", uri, "1003", "wrong")
        again = p.ask(p.request("REGISTER", uri, from_user="1003", to="<sip:1003@127.0.0.1>",
                                cseq=2, headers=["Contact: <sip:1003@127.0.0.1:5999>",
                                                 f"Authorization: {auth}"]))  # fmt: skip
    assert again.status == 401
    assert target.location_rows("1003") == []


@pytest.mark.parametrize(
    ("method", "agent"), [("REGISTER", "friendly-scanner"), ("OPTIONS", "sipvicious 0.3")]
)
def test_scanner_user_agent_gets_200_processed(target, method, agent):
    """The script's REQINIT answers scanners 200 "Processed" before anything else: no
    challenge, no registration."""
    with Peer("udp", target.sip_port) as p:
        r = p.ask(p.request(method, f"sip:1003@127.0.0.1:{target.sip_port}", from_user="1003",
                            headers=[f"User-Agent: {agent}",
                                     "Contact: <sip:1003@127.0.0.1:5999>"]))  # fmt: skip
    assert (r.status, r.reason) == (200, "Processed")
    assert not r.get("contact") and not r.get("www-authenticate")
    assert target.location_rows("1003") == []


def test_foreign_domain_is_relayed_with_the_p_hint_header(target):
    """A local user (challenged with 407 first) sending to a domain that is not the server's
    own: the script's SIPOUT route adds ``P-Hint: outbound`` and relays; the credentials
    were consumed on the way."""
    with ForeignUA() as foreign, Peer("udp", target.sip_port) as p:
        uri = f"sip:4711@127.0.0.2:{foreign.port}"
        first, last = ask_authenticated(p, "MESSAGE", uri, body="hello")
    assert first.status == 407
    assert re.fullmatch(r'Digest realm="127\.0\.0\.1", nonce="[^"]+"',
                        first.get("proxy-authenticate"))  # fmt: skip
    assert (last.status, last.reason) == (200, "OK")
    (req,) = foreign.received
    assert req.first == f"MESSAGE {uri} SIP/2.0"
    assert req.all("p-hint") == ["outbound"]
    assert req.get("max-forwards") == "69"  # process_maxfwd(10) decrements a present one
    assert not req.get("proxy-authorization") and req.body == b"hello"
    assert len(req.all("via")) == 2  # the server's Via on top of ours


def test_foreign_caller_to_a_foreign_domain_is_not_relayed(target):
    with ForeignUA() as foreign, Peer("udp", target.sip_port) as p:
        data = p.request("MESSAGE", f"sip:4711@127.0.0.2:{foreign.port}", from_user="mallory")
        data = data.replace(b"<sip:mallory@127.0.0.1>", b"<sip:mallory@example.org>")
        r = p.ask(data)
    assert (r.status, r.reason) == (403, "Not relaying")
    assert foreign.received == []


def test_unknown_local_user_is_404(target):
    with Peer("udp", target.sip_port) as p:
        first, last = ask_authenticated(p, "MESSAGE", "sip:4711@127.0.0.1", body="hi")
    assert first.status == 407
    assert (last.status, last.reason) == (404, "Not Found")


def test_method_the_contact_does_not_allow_is_405(target):
    """registrar's method_filtering: the contact's Allow goes to ``location.methods``
    (Kamailio's method bits: INVITE 1, CANCEL 2, ACK 4, BYE 8) and ``lookup()`` returns
    -2 for a MESSAGE, which the script answers 405."""
    with Peer("udp", target.sip_port) as uas, Peer("udp", target.sip_port) as caller:
        ok = register(uas, "1002", [f"Contact: {uas.contact('1002')}", "Expires: 600",
                                    "Allow: INVITE, ACK, CANCEL, BYE"])  # fmt: skip
        assert ok.status == 200, ok.first
        assert [r["methods"] for r in target.location_rows("1002")] == [15]
        first, last = ask_authenticated(caller, "MESSAGE", "sip:1002@127.0.0.1", body="hi")
    assert first.status == 407
    assert (last.status, last.reason) == (405, "Method Not Allowed")


def test_request_uri_without_user_is_484(target):
    with Peer("udp", target.sip_port) as p:
        first, last = ask_authenticated(p, "MESSAGE", f"sip:127.0.0.1:{target.sip_port}",
                                        body="hi")  # fmt: skip
    assert first.status == 407
    assert (last.status, last.reason) == (484, "Address Incomplete")


def test_max_forwards_zero_is_483(target):
    with Peer("udp", target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", "sip:1002@127.0.0.1", max_forwards=0))
    assert (r.status, r.reason) == (483, "Too Many Hops")


def test_in_dialog_request_without_route_is_404_not_here(target):
    with Peer("udp", target.sip_port) as p:
        r = p.ask(p.request("BYE", "sip:1002@127.0.0.1", to="<sip:1002@127.0.0.1>;tag=gone"))
    assert (r.status, r.reason) == (404, "Not here")


def test_a_call_is_record_routed_and_its_ack_and_bye_follow_the_route(target):
    """One call by hand, to see what the peers see: the 407 is ACKed, the INVITE with
    credentials reaches the callee with the server's Record-Route (``;lr=on``: the cfg's
    enable_full_lr, no From tag: append_fromtag 0) and without the credentials; the 200
    carries it back; ACK and BYE with that Route reach the callee at its contact."""
    rr = f"<sip:127.0.0.1:{target.sip_port};lr=on>"
    with Peer("udp", target.sip_port) as uas, Peer("udp", target.sip_port) as caller:
        ok = register(uas, "1002", [f"Contact: {uas.contact('1002')}", "Expires: 600"])
        assert ok.status == 200, ok.first
        uri, call_id = "sip:1002@127.0.0.1", f"rr-{caller.port}@127.0.0.1"
        contact = [f"Contact: {caller.contact('1001')}"]
        first = caller.ask(caller.request("INVITE", uri, call_id=call_id, headers=contact))
        assert first.status == 407, first.first
        caller.send(ack_for(first, uri))
        auth = digest_answer(first.get("proxy-authenticate"), "INVITE", uri, "1001",
                             "secret1001")  # fmt: skip
        caller.send(caller.request("INVITE", uri, call_id=call_id, cseq=2,
                                   headers=[*contact, f"Proxy-Authorization: {auth}"]))  # fmt: skip
        invite = next_request(uas, "INVITE")
        assert invite.first == f"INVITE {uas.contact('1002')[1:-1]} SIP/2.0"
        assert invite.all("record-route") == [rr]
        assert not invite.get("proxy-authorization")
        uas.reply_to(invite, 200, "OK")
        answer = caller.recv()
        while answer.status < 200:
            answer = caller.recv()
        assert answer.status == 200 and answer.all("record-route") == [rr]
        target_uri = uas.contact("1002")[1:-1]
        to = answer.get("to")
        caller.send(caller.request("ACK", target_uri, call_id=call_id, cseq=2, to=to,
                                   headers=[f"Route: {rr}"]))  # fmt: skip
        ack = next_request(uas, "ACK")
        assert ack.first == f"ACK {target_uri} SIP/2.0" and not ack.get("route")
        caller.send(caller.request("BYE", target_uri, call_id=call_id, cseq=3, to=to,
                                   headers=[f"Route: {rr}"]))  # fmt: skip
        bye = next_request(uas, "BYE")
        assert bye.first == f"BYE {target_uri} SIP/2.0" and not bye.get("route")
        uas.reply_to(bye, 200, "OK")
        done = caller.recv()
        while done.status < 200:
            done = caller.recv()
        assert done.status == 200 and done.get("cseq") == "3 BYE"


def last_acc_id(target) -> int:
    """The newest ``acc`` row's id (a count is not: ids have gaps after deletes)."""
    return int(target.query("SELECT COALESCE(MAX(id), 0) AS n FROM acc")[0]["n"])


@pytest.mark.slow
@pytest.mark.sipp
def test_calls_follow_the_record_route_to_a_registered_uas(target):
    """20 SIPp calls 1001 -> 1002: each INVITE challenged (407), then ringing, answered,
    ACK and BYE through the Record-Route set to the UAS, which counts every call done.
    Accounting: the INVITE and the BYE of every call in ``acc`` (flag FLT_ACC)."""
    acc_before = last_acc_id(target)
    with sipp_uas(target.sip_port, "uas_answer.xml", "1002", CALLS) as uas:
        uac = sipp(target.sip_port, "uac_call.xml", free_port(), "-s", "1002", "-m", str(CALLS),
                   "-r", "10", "-l", "5", "-d", "100", "-au", "1001", "-ap", "secret1001",
                   "-set", "caller", "1001")  # fmt: skip
        uas_out, _ = uas.communicate(timeout=30)
    assert uac.returncode == 0 and successful_calls(uac.stdout) == CALLS, uac.stdout[-3000:]
    assert message_rows(uac.stdout, "407")[0][0] == CALLS
    assert uas.returncode == 0 and successful_calls(uas_out) == CALLS, uas_out[-3000:]
    # the row of a transaction is written as its final reply goes out: the last may lag
    rows = eventually(lambda: target.query(
        "SELECT method, sip_code FROM acc WHERE id > ? AND callid GLOB ? ORDER BY id",
        acc_before, "[0-9]*-[0-9]*@*",  # SIPp's [call_id]: not the rows of earlier tests
    ), lambda rows: len(rows) >= 2 * CALLS)  # fmt: skip
    assert sorted((r["method"], r["sip_code"]) for r in rows) == sorted(
        [("INVITE", "200"), ("BYE", "200")] * CALLS
    )


@pytest.mark.sipp
def test_cancelled_call_is_487_and_a_missed_call(target):
    """1001 calls 1002, which rings; the caller's CANCEL gets 200 and the INVITE 487 (the
    script relays the CANCEL after ``t_check_trans()``); ``missed_calls`` has the call."""
    missed_before = len(target.query("SELECT id FROM missed_calls"))
    with sipp_uas(target.sip_port, "uas_ring.xml", "1002", 1) as uas:
        uac = sipp(target.sip_port, "uac_cancel.xml", free_port(), "-s", "1002", "-m", "1",
                   "-au", "1001", "-ap", "secret1001", "-set", "caller", "1001")  # fmt: skip
        uas_out, _ = uas.communicate(timeout=30)
    assert uac.returncode == 0 and successful_calls(uac.stdout) == 1, uac.stdout[-3000:]
    assert uas.returncode == 0, uas_out[-3000:]
    rows = eventually(lambda: target.query(
        "SELECT method, sip_code, sip_reason FROM missed_calls WHERE id > ?", missed_before
    ), bool)  # fmt: skip
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in rows] == [
        ("INVITE", "487", "Request Terminated")
    ]


@pytest.mark.slow
@pytest.mark.sipp
def test_reload_during_a_call_keeps_the_call(target):
    """``app_python.reload`` while a call is up: its ACK-ed dialog state lives outside the
    script (Record-Route, transactions), so the BYE after the reload still reaches the
    callee and is accounted."""
    acc_before = last_acc_id(target)
    with sipp_uas(target.sip_port, "uas_answer.xml", "1002", 1) as uas:
        uac = subprocess.Popen(
            sipp_args(target.sip_port, "uac_call.xml", free_port(), "-s", "1002", "-m", "1",
                      "-d", "3000", "-au", "1001", "-ap", "secret1001", "-set", "caller",
                      "1001"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
        )  # fmt: skip
        ours = f"*-{uac.pid}@*"  # this SIPp's [call_id] (a row of an earlier test may lag)
        try:
            answered = eventually(lambda: target.query(
                "SELECT method FROM acc WHERE id > ? AND callid GLOB ?", acc_before, ours
            ), bool)  # fmt: skip
            assert [r["method"] for r in answered] == ["INVITE"]
            r = invoke("--json", "--rpc", target.dgram_url, "rpc", "app_python.reload")
            assert r.exit_code == 0 and r.json()["new"] == r.json()["old"] + 1, r.stderr
            uac_out, _ = uac.communicate(timeout=30)
        finally:
            if uac.poll() is None:
                uac.kill()
                uac.communicate(timeout=10)
        uas_out, _ = uas.communicate(timeout=30)
    assert uac.returncode == 0 and successful_calls(uac_out) == 1, uac_out[-3000:]
    assert uas.returncode == 0, uas_out[-3000:]
    rows = eventually(lambda: target.query(
        "SELECT method FROM acc WHERE id > ? AND callid GLOB ? ORDER BY id", acc_before, ours
    ), lambda rows: len(rows) >= 2)  # fmt: skip
    assert [r["method"] for r in rows] == ["INVITE", "BYE"]


def test_flood_from_a_foreign_address_is_banned(target):
    """127.0.0.3 is none of the server's addresses, so the script's REQINIT runs pike on it
    (16 requests per 2 s): a burst of 40 keepalive OPTIONS gets answers up to the limit,
    then the source lands in the ``ipban`` htable (``$sht(ipban=>$si) = 1``) and nothing
    from it is answered any more (for 300 s: hence not ForeignUA's 127.0.0.2)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.3", 0))
    port = sock.getsockname()[1]

    def options(n: int) -> bytes:
        return (f"OPTIONS sip:127.0.0.1:{target.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.3:{port};branch=z9hG4bK-flood-{n};rport\r\n"
                f"From: <sip:flood@127.0.0.3>;tag=f{n}\r\nTo: <sip:127.0.0.1>\r\n"
                f"Call-ID: flood-{n}-{port}@127.0.0.3\r\nCSeq: 1 OPTIONS\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip

    try:
        for n in range(40):
            sock.sendto(options(n), ("127.0.0.1", target.sip_port))
        answered: list[int] = []
        sock.settimeout(1.0)
        try:
            while True:
                reply = parse(sock.recv(65535))
                assert (reply.status, reply.reason) == (200, "Keepalive")
                answered.append(int(reply.get("call-id").split("-")[1]))
        except TimeoutError:
            pass
        # pike counts per sampling unit: about 16 get through, never all 40
        assert 8 <= len(answered) <= 32, answered
        assert answered == list(range(len(answered)))  # the first ones, in order
        sock.sendto(options(99), ("127.0.0.1", target.sip_port))
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(65535)  # banned: dropped without an answer
    finally:
        sock.close()
    assert target.rpc("htable.get", "ipban", "127.0.0.3")["item"]["value"] == 1
