"""Calls through the proxy between real SIPp peers: record-route, BYE via the proxy,
CANCEL, busy, timeouts, and the dialogs they leave behind."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.proxy import harness
from tests.proxy.conftest import USERS, need
from tests.proxy.harness import (
    caller_args,
    explain,
    register,
    sipp_background,
    sipp_peer,
    wait_for,
)
from tests.support.ports import free_port
from tests.support.require import need_module

pytestmark = pytest.mark.sipp


def call(proxy, scenario="uac_call.xml", **kw):
    """The UAC scenario through ``proxy`` (1001 calls 1002 by default)."""
    return harness.call(proxy.port, scenario, **kw)


def call_ok(proxy, scenario="uac_call.xml", **kw) -> None:
    """:func:`call`, which must complete its scenario."""
    res = call(proxy, scenario, **kw)
    assert res.returncode == 0, explain(res)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_call_with_record_route_and_bye_through_the_proxy(start_proxy, loop):
    need("sipp")
    if loop == "uvloop":
        need_module("uvloop", "a dependency on Linux; elsewhere pip install .[fast]")
    proxy = start_proxy(loop=loop)
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with sipp_peer("uas_answer.xml", proxy.port, uas_port):
        call_ok(proxy)
    # INVITE (after 407), ACK and BYE went through us: 2 relayed requests + stateless ACK
    assert proxy.stat("core:rcv_requests_bye") == 1
    assert proxy.stat("core:rcv_requests_ack") == 2  # ACK of the 407 + the end-to-end ACK
    assert proxy.stat("sl:407_replies") == 1
    dialogs = proxy.call(lambda: proxy.server.dialogs.dialogs())
    assert len(dialogs) == 1
    d = dialogs[0]
    assert d.state == 5 and d.ended_by == "bye"
    assert d.start_ts > 0 and d.caller.tag and d.callee.tag
    assert proxy.stat("dialog:processed_dialogs") == 1
    assert proxy.stat("dialog:active_dialogs") == 0
    assert proxy.stat("tmx:2xx_transactions") >= 2  # INVITE and BYE
    assert proxy.stat("tmx:UAS_transactions") >= 2
    assert proxy.stat("tmx:UAC_transactions") == 0  # all relayed: no local transaction
    assert proxy.stat("core:fwd_requests") >= 2 and proxy.stat("core:fwd_replies") >= 3
    assert proxy.stat("usrloc:registered_users") == 1
    assert proxy.stat("usrloc:location_contacts") == 1


def test_cancel_before_answer(proxy):
    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with sipp_peer("uas_ring.xml", proxy.port, uas_port):
        call_ok(proxy, "uac_cancel.xml")
    assert proxy.stat("core:rcv_requests_cancel") == 1
    dialogs = proxy.call(lambda: proxy.server.dialogs.dialogs())
    assert [d.state for d in dialogs] == [5]
    assert proxy.stat("dialog:failed_dialogs") == 1
    assert proxy.stat("tmx:4xx_transactions") == 1  # the 487


def test_busy_callee_486_is_relayed_and_acked_hop_by_hop(proxy):
    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with sipp_peer("uas_busy.xml", proxy.port, uas_port):  # it got the proxy's ACK
        call_ok(proxy, "uac_busy.xml")
    assert proxy.stat("dialog:failed_dialogs") == 1


def test_unreachable_callee_gets_408_after_fr_timer(start_proxy):
    need("sipp")
    proxy = start_proxy(fr_timer=1.0, t1=0.1)
    register(proxy.port, "1002", free_port())  # nobody listens there afterwards
    call_ok(proxy, "uac_timeout.xml")
    assert proxy.stat("tmx:4xx_transactions") == 1


def test_ringing_callee_is_cancelled_after_fr_inv_timer(start_proxy):
    need("sipp")
    proxy = start_proxy(fr_inv_timer=2.0)
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    # the UAC must get the 408, then the UAS our CANCEL and ACK
    with (
        sipp_peer("uas_ring.xml", proxy.port, uas_port),
        sipp_peer("uac_timeout.xml", proxy.port, free_port(), **caller_args()),
    ):
        dialogs = proxy.server.dialogs
        # while it rings: an early dialog (state 2)
        assert wait_for(lambda: [d.state for d in proxy.call(dialogs.dialogs)] == [2])
        assert proxy.stat("dialog:early_dialogs") == 1
    assert [d.state for d in proxy.call(proxy.server.dialogs.dialogs)] == [5]
    assert proxy.stat("dialog:failed_dialogs") == 1 and proxy.stat("dialog:early_dialogs") == 0


def test_call_to_unregistered_user_is_404(proxy):
    need("sipp")
    res = call(proxy, "uac_timeout.xml", callee="1003")
    assert res.returncode != 0  # it expected a 408
    assert proxy.call(lambda: proxy.server.tm.stats()["4xx"]) == 1


@contextmanager
def _established_call(proxy):
    """A UAS (1002) answering and a UAC (1001) that waits for the proxy's BYE; both must
    have got it (and finished) by the end of the block."""
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    with (
        sipp_peer("uas_answer.xml", proxy.port, uas_port),
        sipp_peer("uac_wait_bye.xml", proxy.port, free_port(), **caller_args()),
    ):
        yield


def rpc(port: int, method: str, *params):
    import httpx

    body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    return httpx.post(f"http://127.0.0.1:{port}/RPC", json=body, timeout=10).json()


def test_dlg_end_dlg_over_json_rpc_sends_bye_to_both_sides(start_proxy, tmp_path):
    need("sipp")
    rpc_port = free_port()
    proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"))
    with _established_call(proxy):
        dialogs = proxy.server.dialogs
        assert wait_for(lambda: [d.state for d in proxy.call(dialogs.dialogs)] == [4])
        (d,) = rpc(rpc_port, "dlg.list")["result"]
        assert d["caller"]["contact"].startswith("sip:1001@127.0.0.1:")
        assert d["callee"]["contact"].startswith("sip:127.0.0.1:")
        assert d["profiles"] == [{"callee": "1002"}, {"caller": "1001"}, "inbound"]
        assert d["caller"]["cseq"] == "2" and d["duration"] >= 0
        assert d["caller"]["route_set"] == "" and d["callee"]["route_set"] == ""  # only us
        forwarded, relayed = proxy.stat("core:fwd_replies"), proxy.stat("tmx:rpl_relayed")
        assert rpc(rpc_port, "dlg.end_dlg", d["h_entry"], d["h_id"]) == {
            "jsonrpc": "2.0",
            "result": {},
            "id": 1,
        }
    # the two 200s to our BYEs stop here: tm relays them to nobody, core forwards nothing
    assert wait_for(lambda: proxy.stat("core:rcv_replies_2xx_bye") == 2)
    assert proxy.stat("core:fwd_replies") == forwarded
    assert proxy.stat("tmx:rpl_relayed") == relayed + 2
    again = rpc(rpc_port, "dlg.end_dlg", d["h_entry"], d["h_id"])
    assert again["error"] == {"code": 404, "message": "Dialog not found"}
    assert [x["state"] for x in rpc(rpc_port, "dlg.list")["result"]] == [5]
    stats = rpc(rpc_port, "stats.get_statistics", "dialog:")["result"]
    assert "dialog:processed_dialogs = 1" in stats and "dialog:active_dialogs = 0" in stats


def test_dialog_lifetime_ends_the_call_with_bye_both_ways(start_proxy):
    need("sipp")
    proxy = start_proxy(dialog_lifetime=1)
    with _established_call(proxy):
        pass  # the dialog's lifetime ends the call: both sides get a BYE
    assert proxy.stat("dialog:expired_dialogs") == 1
    assert proxy.stat("dialog:active_dialogs") == 0


def test_call_over_tcp(proxy):
    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port, transport="t1")
    (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1002"))
    assert b.socket == f"tcp:127.0.0.1:{proxy.port}" and b.connection_id != -1
    with sipp_peer("uas_answer.xml", proxy.port, uas_port, transport="t1"):
        call_ok(proxy, transport="t1")
    assert proxy.stat("core:rcv_requests_bye") == 1


@pytest.mark.parametrize(
    "q_busy,q_answer,busy_rings",
    [("1.0", "0.5", True), ("0.5", "1.0", False), ("0.7", "0.7", True)],
    ids=["busy-first-then-next", "answered-first-busy-never-tried", "parallel"],
)
def test_forking_serial_by_q_and_parallel_on_equal_q(proxy, q_busy, q_answer, busy_rings):
    """Two bindings, one busy, one answering. Different q: tried one after the other, the
    next only after a failure; equal q: both at once. The caller always gets the 200."""
    need("sipp")
    from tests.proxy.harness import UdpClient

    busy_port, answer_port = free_port(), free_port()
    client = UdpClient(proxy.port)
    try:
        resp = client.register(
            "1002",
            USERS["1002"],
            [f"<sip:1002@127.0.0.1:{busy_port}>;q={q_busy}",
             f"<sip:1002@127.0.0.1:{answer_port}>;q={q_answer}"],
        )  # fmt: skip
        assert resp.status == 200
    finally:
        client.close()
    busy = sipp_background("uas_busy.xml", proxy.port, busy_port)
    try:
        with sipp_peer("uas_answer.xml", proxy.port, answer_port):
            call_ok(proxy)
        if busy_rings:
            assert busy.wait(20) == 0, busy.communicate()[0][-3000:]  # 486 ACKed by us
        else:
            assert busy.poll() is None  # never got an INVITE
    finally:
        busy.kill()
    # the busy branch's 486, counted as received; branches are not local transactions
    assert proxy.stat("core:rcv_replies_486") == proxy.stat("core:rcv_replies_4xx_invite")
    assert proxy.stat("core:rcv_replies_486") == (1 if busy_rings else 0)
    assert proxy.stat("tmx:UAC_transactions") == 0


def test_tcp_registration_is_reached_over_its_own_connection(proxy):
    """A phone that registers over TCP and listens nowhere: the INVITE comes back on the
    connection it registered on (received = the connection's peer)."""
    import socket

    from tests.proxy.harness import UdpClient

    helper = UdpClient(proxy.port)  # builds requests and answers digest challenges
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as phone:
        local = phone.getsockname()[1]

        def ask(data: bytes) -> bytes:
            phone.sendall(data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
            return phone.recv(65535)

        from kamtool.sip.digest import answer_challenge, parse_challenge
        from kamtool.sip.parser import parse_message

        reg = dict(from_user="1003", to="<sip:1003@127.0.0.1>", call_id="tcp-reg@x",
                   headers=["Contact: <sip:1003@10.99.99.99:5060;transport=tcp>"])  # fmt: skip
        ch = parse_challenge(
            parse_message(ask(helper.request("REGISTER", "sip:127.0.0.1", **reg))).headers.get(
                "www-authenticate"
            )
        )
        cred = answer_challenge(ch, cnonce="0a4f113b", method="REGISTER", uri="sip:127.0.0.1",
                                username="1003", password=USERS["1003"])  # fmt: skip
        reg["headers"] = [*reg["headers"], f"Authorization: {cred.to_header()}"]
        ok = parse_message(ask(helper.request("REGISTER", "sip:127.0.0.1", cseq=2, **reg)))
        assert ok.status == 200
        (b,) = proxy.call(lambda: proxy.server.usrloc.lookup("1003"))
        assert b.received == f"sip:127.0.0.1:{local};transport=tcp"
        # an authenticated MESSAGE from 1001 over UDP reaches the phone on its connection
        first = helper.ask("MESSAGE", "sip:1003@127.0.0.1")
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        cred = answer_challenge(ch, cnonce="0a4f113b", method="MESSAGE", uri="sip:1003@127.0.0.1",
                                username="1001", password=USERS["1001"])  # fmt: skip
        helper.send_raw(helper.request("MESSAGE", "sip:1003@127.0.0.1", body="hi",
                        headers=[f"Proxy-Authorization: {cred.to_header()}"]))  # fmt: skip
        got = parse_message(phone.recv(65535))
        assert got.method == "MESSAGE" and got.uri_text == b.contact and got.body == b"hi"
    helper.close()


def test_one_100_trying_per_invite(proxy):
    """An authenticated INVITE waits for the database twice (auth_check, lookup) before
    t_relay: the caller gets one 100 Trying, not one per wait plus tm's (three before)."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    ua = harness.UdpClient(proxy.port)
    try:
        with sipp_peer("uas_busy.xml", proxy.port, uas_port):
            uri, to = "sip:1002@127.0.0.1", "<sip:1002@127.0.0.1>"
            sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            invite = dict(to=to, call_id=f"one-trying-{ua.port}", body=sdp,
                          headers=[f"Contact: <sip:1001@127.0.0.1:{ua.port}>",
                                   "Content-Type: application/sdp"])  # fmt: skip
            challenge = ua.ask("INVITE", uri, cseq=1, **invite)
            assert challenge.status == 407
            ch = parse_challenge(challenge.headers.get("proxy-authenticate"))
            creds = answer_challenge(ch, method="INVITE", uri=uri, username="1001",
                                     password=USERS["1001"], cnonce="c0ffee")  # fmt: skip
            invite["headers"] = [*invite["headers"], f"Proxy-Authorization: {creds.to_header()}"]
            ua.send_raw(ua.request("INVITE", uri, cseq=2, **invite))
            statuses = []
            while not statuses or statuses[-1] < 200:
                statuses.append(ua.recv().status)
    finally:
        ua.close()
    assert statuses == [100, 486], statuses


def test_acks_of_our_negative_replies_stop_here_with_a_preloaded_route(proxy):
    """A phone with an outbound proxy (baresip) sends its ACKs with ``Route: <proxy;lr>``:
    loose_route() took them and t_relay() sent them on to the R-URI, the 407's and the
    404's alike, and the 404 went on being retransmitted. The 407's ACK is taken before
    the route (as Kamailio's sl filters it), the 404's by its transaction."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    ua = harness.UdpClient(proxy.port, timeout=1.2)
    route = f"Route: <sip:127.0.0.1:{proxy.port};lr>"
    uri, call_id = "sip:1003@127.0.0.1", f"preloaded-{ua.port}"  # 1003: not registered
    contact = f"Contact: <sip:1001@127.0.0.1:{ua.port}>"

    def ack(cseq: int, branch: str, reply) -> None:
        ua.send_raw(ua.request("ACK", uri, cseq=cseq, branch=branch, call_id=call_id,
                               to=reply.headers.get("to"), headers=[route]))  # fmt: skip

    try:
        first = ua.ask("INVITE", uri, cseq=1, branch="z9hG4bK-pre1", call_id=call_id,
                       headers=[route, contact])  # fmt: skip
        assert first.status == 407
        ack(1, "z9hG4bK-pre1", first)
        ch = parse_challenge(first.headers.get("proxy-authenticate"))
        creds = answer_challenge(ch, method="INVITE", uri=uri, username="1001",
                                 password=USERS["1001"], cnonce="c0ffee")  # fmt: skip
        auth = f"Proxy-Authorization: {creds.to_header()}"
        second = ua.ask("INVITE", uri, cseq=2, branch="z9hG4bK-pre2", call_id=call_id,
                        headers=[route, contact, auth])  # fmt: skip
        assert second.status == 404
        ack(2, "z9hG4bK-pre2", second)
        with pytest.raises(TimeoutError):  # no 404 again (T1 is 0.5 s): the ACK stopped it
            ua.recv()
    finally:
        ua.close()
    assert proxy.stat("core:fwd_requests") == 0  # neither ACK went anywhere
    assert proxy.stat("sl:received_ACKs") >= 1  # the 407's


def test_callee_bye_reaches_a_tcp_caller_over_its_connection(proxy):
    """A caller on TCP whose Contact is not its connection's address (a softphone behind a
    NAT, or one that does not listen): its Contact gets an alias (nat_uac_test adds 16
    on TCP/TLS, as the stock cfg's 19) and the callee's BYE comes back over the caller's
    connection. Without it the BYE went to the Contact's port, failed, and the caller
    never heard that the call had ended."""
    import re
    import socket

    from kamtool.sip.digest import answer_challenge, parse_challenge
    from kamtool.sip.name_addr import parse_name_addr
    from kamtool.sip.parser import parse_message

    need("sipp")
    uas_port = free_port()
    register(proxy.port, "1002", uas_port)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    port = sock.getsockname()[1]
    buffered = b""

    def read() -> object:
        nonlocal buffered
        while True:
            head, sep, rest = buffered.partition(b"\r\n\r\n")
            if sep:
                found = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                size = int(found.group(1)) if found else 0
                if len(rest) >= size:
                    buffered = rest[size:]
                    return parse_message(head + sep + rest[:size])
            data = sock.recv(65535)
            assert data, "the proxy closed the connection"
            buffered += data

    def send(lines: list[str]) -> None:
        sock.sendall(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode())

    uri, call_id = "sip:1002@127.0.0.1", f"tcp-caller-{port}"
    common = [f"From: <sip:1001@127.0.0.1>;tag=tc{port}", "To: <sip:1002@127.0.0.1>",
              f"Call-ID: {call_id}", "Contact: <sip:1001@127.0.0.1:5999;transport=tcp>",
              "Max-Forwards: 70"]  # fmt: skip

    def invite(cseq: int, extra: list[str]) -> None:
        send([f"INVITE {uri} SIP/2.0",
              f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tc{cseq};rport",
              *common, f"CSeq: {cseq} INVITE", *extra])  # fmt: skip

    try:
        with sipp_peer("uas_hangup.xml", proxy.port, uas_port):
            invite(1, [])
            challenge = read()
            while challenge.status == 100:
                challenge = read()
            assert challenge.status == 407
            send([f"ACK {uri} SIP/2.0", "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tc1",
                  *common[:1], f"To: {challenge.headers.get('to')}", *common[2:4],
                  "CSeq: 1 ACK"])  # fmt: skip
            ch = parse_challenge(challenge.headers.get("proxy-authenticate"))
            creds = answer_challenge(ch, method="INVITE", uri=uri, username="1001",
                                     password=USERS["1001"], cnonce="tcp")  # fmt: skip
            invite(2, [f"Proxy-Authorization: {creds.to_header()}"])
            answer = read()
            while answer.status < 200:
                answer = read()
            assert answer.status == 200
            routes = list(reversed(answer.headers.get_all("record-route")))
            target = str(parse_name_addr(answer.headers.get("contact")).uri)
            send([f"ACK {target} SIP/2.0",
                  "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tcack",
                  *common[:1], f"To: {answer.headers.get('to')}", *common[2:4],
                  "CSeq: 2 ACK", *[f"Route: {r}" for r in routes]])  # fmt: skip
            bye = read()  # the callee hangs up: over this connection
            assert bye.method == "BYE"
            via = bye.headers.get_all("via")
            sock.sendall(("\r\n".join(["SIP/2.0 200 OK", *[f"Via: {v}" for v in via],
                                       f"From: {bye.headers.get('from')}",
                                       f"To: {bye.headers.get('to')}", f"Call-ID: {call_id}",
                                       f"CSeq: {bye.headers.get('cseq')}",
                                       "Content-Length: 0", "", ""])).encode())  # fmt: skip
    finally:
        sock.close()
    assert proxy.stat("core:rcv_requests_bye") == 1
