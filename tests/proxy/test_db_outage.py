"""The proxy keeps serving while its MariaDB/PostgreSQL database is away or hanging.

The proxy reaches the real server through a relay the test cuts or stalls
(:mod:`tests.support.dbrelay`): while the database is gone, OPTIONS keepalives, phones
whose subscriber row was read before (SIPp registering with digest) and the RPC server
are answered; a subscriber never seen gets 500 (auth_db's answer when it cannot query);
the outage is logged once. When the database is back everything works again without a
restart and every registration made meanwhile is in the ``location`` table.
"""

from __future__ import annotations

import logging
import select
import socket
import time

import pytest

from kamtool.proxy.usrloc import LocationStore
from tests.proxy.harness import (
    USERS,
    RunningProxy,
    UdpClient,
    add_subscriber,
    make_config,
    register,
    wait_for,
)
from tests.support.databases import database
from tests.support.dbrelay import DbRelay
from tests.support.jsonrpc import http_rpc
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["mysql", "postgres"])
def server_db(request, tmp_path):
    """A throwaway database on the real server with Kamailio's tables and 1001-1003."""
    from kamtool.db import schema
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with database(request.param, tmp_path) as url:
        with connected(url, auto_create=False) as db:
            create_tables(db, schema.GROUP_NAMES)
        for user, pw in USERS.items():
            add_subscriber(url, user, pw)
        yield url


@pytest.fixture
def start_proxy():
    """Factory: start_proxy(db_url, **ProxyConfig changes) -> RunningProxy (stopped after)."""
    started: list[RunningProxy] = []

    def start(db_url: str, **changes):
        p = RunningProxy(make_config(db_url, **changes)).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def location_contacts(url: str, aor: str) -> set[str]:
    """The contacts of ``aor`` in the ``location`` table (read directly, not via the proxy)."""
    from kamtool.db.connect import open_database

    db = open_database(url)
    try:
        store = LocationStore(db_mode=1, database=db)
        store.load()
        return {b.contact for b in store.contacts_of(aor)}
    finally:
        db.close()


def log_lines(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.parametrize(("db_mode", "lenient"), [(1, False), (1, True), (2, False)],
                         ids=["db_mode1", "db_mode1-ack-unstored", "db_mode2"])  # fmt: skip
def test_sip_and_rpc_go_on_while_the_database_is_cut(
    server_db, start_proxy, tmp_path, caplog, db_mode, lenient
):
    caplog.set_level(logging.INFO)
    relay, url = DbRelay.for_url(server_db)
    rpc_port = free_port()
    with relay:
        proxy = start_proxy(
            url,
            db_mode=db_mode,
            usrloc_ack_unstored=lenient,
            rpc_listen=f"127.0.0.1:{rpc_port}",
            rpc_runtime_dir=str(tmp_path / "rt"),
        )
        rpc_url = f"http://127.0.0.1:{rpc_port}/RPC"
        register(proxy.port, "1001")  # SIPp with digest: 1001's row is read and cached
        phone = UdpClient(proxy.port)
        other = UdpClient(proxy.port)
        try:
            relay.cut()
            # a keepalive needs no database
            ka = phone.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
            assert (ka.status, ka.reason) == (200, "Keepalive")
            # 1001 registers a new contact: its row was read before, the phone is served
            contact = f"sip:1001@127.0.0.1:{phone.port}"
            ok = phone.register("1001", USERS["1001"], [f"<{contact}>"])
            if db_mode == 1 and not lenient:
                # write-through cannot write: no 200 for what a crash would lose
                assert (ok.status, ok.headers.get("retry-after")) == (503, "30"), ok.status
            else:
                assert ok.status == 200, ok.status
                # a real SIP peer re-registers too
                register(proxy.port, "1001")
            # 1003 was never seen: no row, no way to check the password: 500
            refused = other.register("1003", USERS["1003"], [f"<sip:1003@127.0.0.1:{other.port}>"])
            assert (refused.status, refused.reason) == (500, "Server Internal Error")
            # the RPC server answers, from memory
            dump = http_rpc(rpc_url, "ul.dump")
            assert contact in str(dump)
            assert http_rpc(rpc_url, "core.uptime")["uptime"] >= 0
            with pytest.raises(RuntimeError, match="500"):  # a reload needs the table
                http_rpc(rpc_url, "domain.reload")
            with pytest.raises(RuntimeError, match="500"):  # so does a flush; nothing lost
                http_rpc(rpc_url, "ul.flush")
            # the new contact waits in memory (the table is read here without the relay)
            assert contact not in location_contacts(server_db, "1001")
            relay.restore()
            # back: the pending contact is written (the timer retries), 1003 registers,
            # all without a restart
            assert wait_for(lambda: contact in location_contacts(server_db, "1001"), 20)
            again = other.register("1003", USERS["1003"], [f"<sip:1003@127.0.0.1:{other.port}>"])
            assert again.status == 200
            assert wait_for(lambda: location_contacts(server_db, "1003") != set(), 20)
            http_rpc(rpc_url, "domain.reload")  # reads the table again
        finally:
            phone.close()
            other.close()
    # one line for the outage, one for the end of it: not one per message
    assert len(log_lines(caplog, "database unreachable")) == 1
    assert len(log_lines(caplog, "database is back")) == 1


def test_a_hanging_database_holds_only_the_requests_that_need_it(server_db, start_proxy, tmp_path):
    """Stalled (statements hang): the request waiting for its subscriber row is
    suspended, its retransmission absorbed; keepalives and RPC are answered meanwhile.
    When the connection breaks the suspended request gets its 500, once."""
    relay, url = DbRelay.for_url(server_db)
    rpc_port = free_port()
    with relay:
        proxy = start_proxy(
            url,
            db_mode=2,
            rpc_listen=f"127.0.0.1:{rpc_port}",
            rpc_runtime_dir=str(tmp_path / "rt"),
        )
        waiting = UdpClient(proxy.port)
        keepalive = UdpClient(proxy.port)
        try:
            from kamtool.sip.digest import answer_challenge, parse_challenge

            uri = f"sip:127.0.0.1:{proxy.port}"
            to = "<sip:1003@127.0.0.1>"
            headers = [f"Contact: <sip:1003@127.0.0.1:{waiting.port}>", "Expires: 600"]
            first = waiting.ask("REGISTER", uri, from_user="1003", to=to, headers=headers,
                                call_id="hang-1", cseq=1)  # fmt: skip
            assert first.status == 401  # a challenge needs no database
            creds = answer_challenge(
                parse_challenge(first.headers.get("www-authenticate")),
                cnonce="0a4f113b",
                method="REGISTER",
                uri=uri,
                username="1003",
                password=USERS["1003"],
            )
            relay.stall()
            authed = waiting.request(
                "REGISTER", uri, from_user="1003", to=to, call_id="hang-1", cseq=2,
                headers=[*headers, f"Authorization: {creds.to_header()}"],
            )  # fmt: skip
            waiting.send_raw(authed)
            waiting.send_raw(authed)  # a retransmission while it waits
            # meanwhile: keepalives and the RPC server are answered
            ka = keepalive.ask("OPTIONS", uri)
            assert (ka.status, ka.reason) == (200, "Keepalive")
            assert http_rpc(f"http://127.0.0.1:{rpc_port}/RPC", "core.uptime")["uptime"] >= 0
            # ... and the REGISTER is still waiting for its row
            waiting.sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                waiting.sock.recv(65535)
            waiting.sock.settimeout(15)
            relay.cut()  # the hanging connection breaks
            answer = waiting.recv()
            assert (answer.status, answer.reason) == (500, "Server Internal Error")
            waiting.sock.settimeout(1.0)
            with pytest.raises(socket.timeout):  # one answer: the copy was absorbed
                waiting.recv()
        finally:
            waiting.close()
            keepalive.close()


def test_calls_between_registered_phones_go_on_while_the_database_is_cut(server_db, start_proxy):
    """1001 calls 1002 (SIPp peers) with the database gone: 1001's row is cached, the
    alias lookup fails as no alias (alias_db's behaviour), the location is in memory."""
    from tests.proxy.conftest import need
    from tests.proxy.harness import call, explain, sipp_peer

    need("sipp")
    relay, url = DbRelay.for_url(server_db)
    with relay:
        proxy = start_proxy(url, db_mode=1)
        uas_port = free_port()
        register(proxy.port, "1002", uas_port)
        register(proxy.port, "1001")  # caches 1001's row, as any phone's REGISTER does
        relay.cut()
        with sipp_peer("uas_answer.xml", proxy.port, uas_port):
            res = call(proxy.port)
            assert res.returncode == 0, explain(res)
        assert proxy.stat("dialog:processed_dialogs") == 1


def answer_ok(phone: UdpClient, req) -> None:
    """``phone`` (a registered contact) answers the request the proxy relayed with 200."""
    lines = ["SIP/2.0 200 OK"]
    lines += [f"Via: {v}" for v in req.headers.get_all("via")]
    lines += [f"From: {req.headers.get('from')}", f"To: {req.headers.get('to')};tag=callee"]
    lines += [f"Call-ID: {req.headers.get('call-id')}", f"CSeq: {req.headers.get('cseq')}"]
    phone.send_raw(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())


def send_message(sender: UdpClient, to_user: str, from_user: str, callee: UdpClient):
    """A MESSAGE from ``from_user`` (digest answered) to ``to_user``, whose registered
    contact ``callee`` answers it when it arrives; returns the final answer ``sender`` got."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    uri = f"sip:{to_user}@127.0.0.1"
    kw = dict(from_user=from_user, headers=["Content-Type: text/plain"], body="hello")
    call_id = f"msg-{sender.port}-{time.monotonic_ns()}"
    first = sender.ask("MESSAGE", uri, call_id=call_id, cseq=1, **kw)
    assert first.status == 407, first.status
    creds = answer_challenge(
        parse_challenge(first.headers.get("proxy-authenticate")),
        cnonce="0a4f113b",
        method="MESSAGE",
        uri=uri,
        username=from_user,
        password=USERS[from_user],
    )
    kw["headers"] = [*kw["headers"], f"Proxy-Authorization: {creds.to_header()}"]
    sender.send_raw(sender.request("MESSAGE", uri, call_id=call_id, cseq=2, **kw))
    ready, _, _ = select.select([sender.sock, callee.sock], [], [], 5)
    assert ready, "neither an answer nor the relayed MESSAGE"
    if callee.sock in ready:
        relayed = callee.recv()
        assert relayed.method == "MESSAGE"
        answer_ok(callee, relayed)
    final = sender.recv()
    while final.status < 200:
        final = sender.recv()
    return final


def test_db_only_mode_answers_500_while_the_database_is_cut_and_recovers(server_db, start_proxy):
    """db_mode 3 has no memory to serve from: a REGISTER and a request to a user get
    500 (not a misleading 404), keepalives are answered, and all works when it is back."""
    relay, url = DbRelay.for_url(server_db)
    with relay:
        proxy = start_proxy(url, db_mode=3)
        phone = UdpClient(proxy.port)
        sender = UdpClient(proxy.port)
        try:
            contact = f"sip:1002@127.0.0.1:{phone.port}"
            assert phone.register("1002", USERS["1002"], [f"<{contact}>"]).status == 200
            assert location_contacts(server_db, "1002") == {contact}  # written before the 200
            # the lookup reads the table: 1001's MESSAGE reaches the phone
            assert send_message(sender, "1002", "1001", phone).status == 200
            relay.cut()
            ka = phone.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
            assert ka.status == 200
            again = phone.register("1002", USERS["1002"], [f"<{contact}>"])
            assert (again.status, again.reason) == (500, "Server Internal Error")
            failed = send_message(sender, "1002", "1001", phone)  # 1001 cached; lookup fails
            assert (failed.status, failed.reason) == (500, "Server Internal Error")
            relay.restore()
            assert wait_for(
                lambda: phone.register("1002", USERS["1002"], [f"<{contact}>"]).status == 200,
                20,
            )
            assert send_message(sender, "1002", "1001", phone).status == 200
        finally:
            phone.close()
            sender.close()


def test_a_restarted_database_costs_no_outage(server_db, start_proxy, caplog):
    """The server closes every connection (a restart): the next statement reconnects
    transparently, nothing is refused and no outage is logged."""
    relay, url = DbRelay.for_url(server_db)
    with relay:
        proxy = start_proxy(url, db_mode=1)
        phone = UdpClient(proxy.port)
        try:
            first = f"sip:1001@127.0.0.1:{phone.port}"
            assert phone.register("1001", USERS["1001"], [f"<{first}>"]).status == 200
            relay.cut()
            relay.restore()  # the proxy's connection is dead, the server is back
            second = f"sip:1001@127.0.0.1:{phone.port + 1}"
            assert phone.register("1001", USERS["1001"], [f"<{second}>"]).status == 200
            assert {first, second} <= location_contacts(server_db, "1001")
        finally:
            phone.close()
    assert log_lines(caplog, "database unreachable") == []


def test_an_invite_cancelled_while_it_waits_for_the_database_gets_487(server_db, start_proxy):
    """A caller that gives up while its INVITE waits for the subscriber row: the INVITE
    gets its 100 Trying meanwhile (each retransmission too), the CANCEL is answered 200 at
    once and the INVITE 487 when the database answers (not 481)."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    relay, url = DbRelay.for_url(server_db)
    with relay:
        proxy = start_proxy(url, db_mode=2)
        caller = UdpClient(proxy.port, timeout=15)
        try:
            uri = "sip:1002@127.0.0.1"
            kw = dict(
                from_user="1003", call_id="cancel-1", headers=["Contact: <sip:1003@127.0.0.1>"]
            )
            first = caller.ask("INVITE", uri, cseq=1, **kw)
            assert first.status == 407
            caller.send_raw(caller.request("ACK", uri, cseq=1, **kw))
            creds = answer_challenge(
                parse_challenge(first.headers.get("proxy-authenticate")),
                cnonce="0a4f113b",
                method="INVITE",
                uri=uri,
                username="1003",
                password=USERS["1003"],
            )
            relay.stall()
            branch = "z9hG4bK-cancel-while-waiting"
            headers = [*kw["headers"], f"Proxy-Authorization: {creds.to_header()}"]
            invite = dict(kw, headers=headers)
            wire = caller.request("INVITE", uri, cseq=2, branch=branch, **invite)
            caller.send_raw(wire)
            # suspended for the subscriber row, the INVITE is still answered 100 at once
            # (RFC 3261 16.2), without a To tag, and again for a retransmission
            for _ in range(2):
                trying = caller.recv()
                assert (trying.status, trying.cseq.method) == (100, "INVITE")
                assert trying.to_tag is None
                caller.send_raw(wire)
            trying = caller.recv()
            assert (trying.status, trying.cseq.method) == (100, "INVITE")
            caller.send_raw(caller.request("CANCEL", uri, cseq=2, branch=branch, **kw))
            cancelled = caller.recv()
            assert (cancelled.status, cancelled.cseq.method) == (200, "CANCEL")
            relay.cut()  # the row never comes
            final = caller.recv()
            assert (final.status, final.cseq.method) == (487, "INVITE")
        finally:
            caller.close()


@pytest.mark.mysql
def test_kamailio_rechallenges_when_auth_db_cannot_query(tmp_path):
    """The ground truth kamtool departs from: Kamailio 5.6 with the reference cfg and its
    MariaDB cut answers a REGISTER with good credentials 401, a new challenge: auth_check
    fails ("failed to query database") and route[AUTH] challenges on any failure. The
    phone is told its password is wrong; kamtool answers 500 instead (auth_db's own
    answer in www_authorize/proxy_authorize), which says the server is at fault.
    Kamailio has no subscriber cache either: even the phone seen a moment ago is refused."""
    from tests.support.kamailio import Kamailio, require_kamailio

    require_kamailio()
    with database("mysql", tmp_path) as real_url:
        from kamtool.db import schema
        from kamtool.db.connect import connected
        from kamtool.db.ddl import create_tables

        with connected(real_url, auto_create=False) as db:
            create_tables(db, schema.GROUP_NAMES)
        add_subscriber(real_url, "1001", USERS["1001"])
        relay, url = DbRelay.for_url(real_url)
        with relay, Kamailio(tmp_path, db=url, seed=False, auth_ha1_columns=True) as k:
            phone = UdpClient(k.sip_port)
            try:
                contact = f"<sip:1001@127.0.0.1:{phone.port}>"
                assert phone.register("1001", USERS["1001"], [contact]).status == 200
                relay.cut()
                ka = phone.ask("OPTIONS", f"sip:127.0.0.1:{k.sip_port}")
                assert ka.status == 200
                refused = phone.register("1001", USERS["1001"], [contact])
                assert refused.status == 401  # with credentials: challenged again
                assert wait_for(lambda: "failed to query database" in k.log_text(), 10)
            finally:
                phone.close()


def test_db_only_ul_add_rm_run_on_the_worker(server_db, start_proxy, tmp_path):
    """db_mode 3: ``ul.add``, ``ul.rm_contact`` and ``ul.rm`` read the AoR and write the
    change on the database worker: each answer comes once the table holds the change, and
    while the database hangs the proxy still answers SIP (the loop never waits for it);
    a cut database gets a 500 and the table is left as it was."""
    import threading

    relay, url = DbRelay.for_url(server_db)
    rpc_port = free_port()
    with relay:
        proxy = start_proxy(
            url, db_mode=3, rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt")
        )
        rpc_url = f"http://127.0.0.1:{rpc_port}/RPC"
        phone = UdpClient(proxy.port)
        try:
            a, b = "sip:1001@127.0.0.1:7001", "sip:1001@127.0.0.1:7002"
            for contact in (a, b):
                http_rpc(rpc_url, "ul.add", "location", "1001", contact, 600, 1, "", 0, 0, 0)
            assert location_contacts(server_db, "1001") == {a, b}  # written before the answer
            http_rpc(rpc_url, "ul.rm_contact", "location", "1001", a)
            assert location_contacts(server_db, "1001") == {b}
            with pytest.raises(RuntimeError, match="404"):
                http_rpc(rpc_url, "ul.rm_contact", "location", "1001", a)

            relay.stall()  # the database hangs: ul.rm waits on the worker, not on the loop
            answers: list[object] = []
            rm = threading.Thread(
                target=lambda: answers.append(
                    _rpc_or_error(rpc_url, "ul.rm", "location", "1001", timeout=60)
                )
            )
            rm.start()
            try:
                ka = phone.ask("OPTIONS", f"sip:127.0.0.1:{proxy.port}")
                assert (ka.status, ka.reason) == (200, "Keepalive")
                assert answers == []  # still waiting for the database
            finally:
                relay.restore()
                rm.join(60)
            assert not rm.is_alive()
            assert wait_for(lambda: location_contacts(server_db, "1001") == set(), 20)

            relay.cut()
            with pytest.raises(RuntimeError, match="500"):
                http_rpc(rpc_url, "ul.add", "location", "1001", a, 600, 1, "", 0, 0, 0)
            relay.restore()
            assert wait_for(
                lambda: not isinstance(
                    _rpc_or_error(rpc_url, "ul.add", "location", "1002", b, 600, 1, "", 0, 0, 0),
                    Exception,
                ),
                20,
            )  # fmt: skip
            assert location_contacts(server_db, "1002") == {b}
        finally:
            phone.close()


def _rpc_or_error(url: str, method: str, *params: object, timeout: float = 10) -> object:
    try:
        return http_rpc(url, method, *params, timeout=timeout)
    except (RuntimeError, OSError) as exc:
        return exc
