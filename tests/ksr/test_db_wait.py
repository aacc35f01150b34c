"""A route script waits for the database without blocking the proxy: the request whose
auth_check needs its subscriber row is suspended (its greenlet switched out) while
keepalives are answered; its retransmission meanwhile is what t_precheck_trans sees;
when the database fails, the Debian example's own answer (a new challenge) goes out,
once."""

from __future__ import annotations

import socket
import time

import pytest

from tests.proxy.harness import (
    USERS,
    RunningProxy,
    UdpClient,
    add_subscriber,
    make_config,
    wait_for,
)
from tests.support.databases import database
from tests.support.dbrelay import DbRelay

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def mariadb(tmp_path):
    """A throwaway MariaDB database with Kamailio's tables and 1001-1003."""
    from kamtool.db import schema
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with database("mysql", tmp_path) as url:
        with connected(url, auto_create=False) as db:
            create_tables(db, schema.GROUP_NAMES)
        for user, pw in USERS.items():
            add_subscriber(url, user, pw)
        yield url


def test_a_route_waiting_for_the_database_does_not_block_the_loop(mariadb, debian_example):
    from kamtool.sip.digest import answer_challenge, parse_challenge

    relay, url = DbRelay.for_url(mariadb)
    with relay:
        proxy = RunningProxy(make_config(url, db_mode=2, route=debian_example)).start()
        waiting, keepalive = UdpClient(proxy.port), UdpClient(proxy.port)
        try:
            uri = f"sip:127.0.0.1:{proxy.port}"
            to = "<sip:1003@127.0.0.1>"
            headers = [f"Contact: <sip:1003@127.0.0.1:{waiting.port}>", "Expires: 600"]
            first = waiting.ask("REGISTER", uri, from_user="1003", to=to, headers=headers,
                                call_id="hang-1", cseq=1)  # fmt: skip
            assert first.status == 401
            creds = answer_challenge(parse_challenge(first.headers.get("www-authenticate")),
                                     cnonce="0a4f113b",
                                     method="REGISTER", uri=uri, username="1003",
                                     password=USERS["1003"])  # fmt: skip
            relay.stall()
            auth = f"Authorization: {creds.to_header()}"
            authed = waiting.request(
                "REGISTER", uri, from_user="1003", to=to, call_id="hang-1", cseq=2,
                headers=[*headers, auth],
            )  # fmt: skip
            waiting.send_raw(authed)
            waiting.send_raw(authed)  # retransmitted while the first copy waits
            ka = keepalive.ask("OPTIONS", uri)  # the loop is free
            assert (ka.status, ka.reason) == (200, "Keepalive")
            waiting.sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # the REGISTER still waits
                waiting.sock.recv(65535)
            waiting.sock.settimeout(15)
            relay.cut()
            answer = waiting.recv()  # auth_check < 0: the script challenges again
            assert answer.status == 401
            waiting.sock.settimeout(1.0)
            with pytest.raises(socket.timeout):  # one answer: the copy was absorbed
                waiting.recv()
            relay.restore()
            # back: the worker retries every 2 s, the phone every second until it is in
            waiting.sock.settimeout(10)
            contact = [f"<sip:1003@127.0.0.1:{waiting.port}>"]
            assert wait_for(
                lambda: waiting.register("1003", USERS["1003"], contact).status == 200
                or time.sleep(1),
                20,
            )
        finally:
            waiting.close()
            keepalive.close()
            proxy.stop()
