"""Upstream registrations (uacreg) on kamtool serve: a small UDP registrar in the test plays
the carrier (digest with qop=auth, checked here), the proxy registers the line, refreshes
it, registers again after the carrier restarts; a call from the carrier to the line
reaches the local user; ``kamtool uacreg list/info/disable/enable/refresh`` over RPC."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest

from kamtool.sip.digest import compute_response, ha1
from kamtool.sip.digest_header import parse_credentials
from kamtool.sip.message import make_response
from kamtool.sip.parser import parse_message
from tests.proxy.harness import USERS, UdpClient, wait_for
from tests.support.cli import invoke
from tests.support.ports import free_port

REALM, USER, PASSWORD = "carrier.test", "trunk7", "s3cret-trunk"
LINE = "line1"  # l_uuid: the user part of our Contact at the carrier
GRANTED = 3  # seconds the carrier grants: refreshes come quickly


class Carrier:
    """A registrar on 127.0.0.1:``port``: 401 with a qop=auth challenge, 200 (with the
    binding's expires) for correct credentials, 403 for wrong ones. ``registered`` holds
    each REGISTER it accepted; ``bad`` counts wrong credentials."""

    def __init__(self, port: int, min_expires: int = 0, stale: int = 0) -> None:
        self.port = port
        self.stale = stale  # this many correct answers get 401 stale=true first
        self.min_expires = min_expires  # a shorter Expires gets 423 Interval Too Brief
        self.asked: list[int] = []  # the Expires of each REGISTER
        self.registered: list[Any] = []
        self.bad = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _check(self, req: Any) -> bool:
        creds = parse_credentials(req.headers.get("Authorization"))
        expected = compute_response(
            ha1(USER, REALM, PASSWORD), method="REGISTER", uri=creds.uri, nonce=creds.nonce,
            qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce,
        )  # fmt: skip
        return creds.username == USER and creds.realm == REALM and creds.response == expected

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = parse_message(data)
            if not msg.is_request or msg.method != "REGISTER":
                continue
            self.asked.append(msg.expires or 0)
            if (msg.expires or 0) < self.min_expires:
                reply = make_response(msg, 423, to_tag="c1")
                reply.headers.add("Min-Expires", str(self.min_expires))
            elif msg.headers.get("Authorization") is None:
                reply = make_response(msg, 401, to_tag="c1")
                nonce = f"n{len(self.registered)}x"
                challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth"'
                reply.headers.add("WWW-Authenticate", challenge)
            elif self.stale > 0 and self._check(msg):
                self.stale -= 1
                reply = make_response(msg, 401, to_tag="c1")
                challenge = f'Digest realm="{REALM}", nonce="fresh{self.stale}", qop="auth"'
                reply.headers.add("WWW-Authenticate", challenge + ", stale=true")
            elif self._check(msg):
                self.registered.append(msg)
                reply = make_response(msg, 200, to_tag="c1")
                reply.headers.add("Contact", f"{msg.headers.get('Contact')};expires={GRANTED}")
            else:
                self.bad += 1
                reply = make_response(msg, 403, to_tag="c1")
            self.sock.sendto(reply.to_bytes(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def carrier_port(proxy_db):
    """A free port for the carrier and the line's row pointing there (kamtool uacreg add)."""
    port = free_port()
    r = invoke("--db", proxy_db, "uacreg", "add", LINE, "1001", "127.0.0.1", USER,
               "127.0.0.1", REALM, USER, PASSWORD, f"sip:127.0.0.1:{port}", "60")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    return port


def start(start_proxy, **changes: Any) -> Any:
    return start_proxy(uac_reg_timer_interval=1.0, uac_reg_retry_interval=0.5,
                       fr_timer=1.0, **changes)  # fmt: skip


def flags(proxy) -> int:
    return proxy.call(lambda: proxy.server.uacreg.lines[LINE].flags)


def status(proxy) -> int:
    return proxy.call(lambda: proxy.server.uacreg.status(LINE))


def test_registers_with_digest_and_refreshes(start_proxy, carrier_port):
    carrier = Carrier(carrier_port)
    try:
        proxy = start(start_proxy)
        assert wait_for(lambda: len(carrier.registered) >= 1, 10), "no authenticated REGISTER"
        first = carrier.registered[0]
        assert str(first.uri) == "sip:127.0.0.1"
        assert first.headers.get("To") == f"<sip:{USER}@127.0.0.1>"
        assert f"sip:{LINE}@127.0.0.1:{proxy.port}" in first.headers.get("Contact")
        assert wait_for(lambda: status(proxy) == 1, 5)
        # refreshed before the 3 s binding runs out, on the same Call-ID with a higher CSeq
        assert wait_for(lambda: len(carrier.registered) >= 3, 10), "no refresh"
        again = carrier.registered[-1]
        assert again.call_id == first.call_id and again.cseq.num > first.cseq.num
        assert carrier.bad == 0
    finally:
        carrier.close()


def test_registers_again_after_the_carrier_restarts(start_proxy, carrier_port):
    carrier = Carrier(carrier_port)
    proxy = start(start_proxy)
    try:
        assert wait_for(lambda: status(proxy) == 1, 10)
    finally:
        carrier.close()
    # the carrier is away: the refresh times out, the line is no longer online
    assert wait_for(lambda: not flags(proxy) & 4, 10)  # ONLINE no longer
    assert status(proxy) != 1
    carrier = Carrier(carrier_port)  # back, with no bindings
    try:
        assert wait_for(lambda: len(carrier.registered) >= 1, 15), "not registered again"
        assert wait_for(lambda: status(proxy) == 1, 5)
    finally:
        carrier.close()


def test_call_from_the_carrier_reaches_the_local_user(start_proxy, carrier_port):
    carrier = Carrier(carrier_port)
    phone = UdpClient(0)
    try:
        proxy = start(start_proxy)
        phone.proxy = ("127.0.0.1", proxy.port)
        contact = f"<sip:1001@127.0.0.1:{phone.port}>"
        assert phone.register("1001", USERS["1001"], [contact]).status == 200
        assert wait_for(lambda: status(proxy) == 1, 10)
        # the carrier calls our Contact there (sip:line1@proxy), from its own address
        invite = (
            f"INVITE sip:{LINE}@127.0.0.1:{proxy.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{carrier_port};branch=z9hG4bK-carrier-1\r\n"
            f"From: <sip:+15551234@{REALM}>;tag=cx1\r\n"
            f"To: <sip:{USER}@{REALM}>\r\n"
            "Call-ID: carrier-call-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:+15551234@127.0.0.1:{carrier_port}>\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        carrier.sock.sendto(invite, ("127.0.0.1", proxy.port))
        got = phone.recv()
        while not got.is_request:
            got = phone.recv()
        assert got.method == "INVITE"
        assert str(got.uri) == f"sip:1001@127.0.0.1:{phone.port}"
        assert got.call_id == "carrier-call-1"
    finally:
        phone.close()
        carrier.close()


def test_uacreg_cli_against_kamtool_serve(start_proxy, carrier_port):
    carrier = Carrier(carrier_port)
    rpc_port = free_port()
    rpc = f"http://127.0.0.1:{rpc_port}/RPC"
    try:
        proxy = start(start_proxy, rpc_listen=f"127.0.0.1:{rpc_port}")
        assert wait_for(lambda: status(proxy) == 1, 10)
        listed = invoke("--rpc", rpc, "--json", "uacreg", "list")
        assert listed.exit_code == 0, listed.stderr
        rows = json.loads(listed.stdout)
        rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
        assert [r["l_uuid"] for r in rows] == [LINE]
        assert "online" in rows[0]["state"] and PASSWORD not in listed.stdout
        info = invoke("--rpc", rpc, "--json", "uacreg", "info", LINE)
        assert info.exit_code == 0 and json.loads(info.stdout)["r_username"] == USER
        assert invoke("--rpc", rpc, "uacreg", "disable", LINE).exit_code == 0
        assert status(proxy) == -3  # Kamailio's code for a disabled line
        sent = len(carrier.registered)
        assert invoke("--rpc", rpc, "uacreg", "enable", LINE).exit_code == 0
        assert wait_for(lambda: len(carrier.registered) > sent and status(proxy) == 1, 10)
        assert invoke("--rpc", rpc, "uacreg", "refresh", LINE).exit_code == 0
        missing = invoke("--rpc", rpc, "uacreg", "info", "nosuchline")
        assert missing.exit_code != 0
    finally:
        carrier.close()


def rpc_call(url: str, method: str, *params: Any) -> dict[str, Any]:
    import httpx

    body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    return httpx.post(url, json=body, timeout=10).json()


def test_rpc_answers_in_kamailios_shapes(start_proxy, carrier_port, proxy_db):
    carrier = Carrier(carrier_port)
    rpc_port = free_port()
    url = f"http://127.0.0.1:{rpc_port}/RPC"
    try:
        proxy = start(start_proxy, rpc_listen=f"127.0.0.1:{rpc_port}")
        assert wait_for(lambda: status(proxy) == 1, 10)
        dump = rpc_call(url, "uac.reg_dump")["result"]
        assert len(dump) == 1
        record = dump[0]
        keys = {"l_uuid", "l_username", "l_domain", "r_username", "r_domain", "realm",
                "auth_username", "auth_password", "auth_proxy", "expires", "flags",
                "diff_expires", "timer_expires", "reg_init", "reg_delay"}  # fmt: skip
        assert keys <= set(record)
        assert record["flags"] == 20  # online + init, as Kamailio shows a registered line
        assert 0 < record["diff_expires"] <= GRANTED
        assert record["auth_ha1"] == "none"  # Kamailio's word for an empty value
        assert record["contact_addr"] == f"127.0.0.1:{proxy.port}"  # the one registered
        by_user = rpc_call(url, "uac.reg_info", "r_username", USER)["result"]
        assert by_user["l_uuid"] == LINE
        missing = rpc_call(url, "uac.reg_info", "l_uuid", "nosuch")["error"]
        assert missing["code"] == 404 and missing["message"] == "Record not found"
        assert rpc_call(url, "uac.reg_info", "realm", REALM)["error"]["code"] == 400
        assert rpc_call(url, "uac.reg_disable", "l_uuid", "nosuch")["error"]["code"] == 404
        # remove drops it from memory; refresh loads it again from the table
        assert "error" not in rpc_call(url, "uac.reg_remove", LINE)
        assert rpc_call(url, "uac.reg_dump")["result"] == []
        assert rpc_call(url, "uac.reg_remove", LINE)["error"]["code"] == 404
        assert "error" not in rpc_call(url, "uac.reg_refresh", LINE)
        assert wait_for(lambda: status(proxy) == 1, 10)
        assert rpc_call(url, "uac.reg_refresh", "nosuch")["error"]["code"] == 404
        # a row added to the table is registered after uac.reg_reload
        r = invoke("--db", proxy_db, "uacreg", "add", "line2", "1002", "127.0.0.1", "trunk8",
                   "127.0.0.1", REALM, "trunk8", "other", f"sip:127.0.0.1:{carrier_port}",
                   "60", "--no-reload")  # fmt: skip
        assert r.exit_code == 0, r.stderr
        assert "error" not in rpc_call(url, "uac.reg_reload")
        uuids = sorted(x["l_uuid"] for x in rpc_call(url, "uac.reg_dump")["result"])
        assert uuids == [LINE, "line2"]
    finally:
        carrier.close()


def test_wrong_password_is_retried_with_back_off(start_proxy, proxy_db):
    port = free_port()
    wrong = "not-the-password"
    r = invoke("--db", proxy_db, "uacreg", "add", LINE, "1001", "127.0.0.1", USER,
               "127.0.0.1", REALM, USER, wrong, f"sip:127.0.0.1:{port}", "60")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    carrier = Carrier(port)
    try:
        proxy = start(start_proxy)
        # each attempt answers the challenge once, gets 403, and waits longer next time
        assert wait_for(lambda: carrier.bad >= 3, 15), "no retries"
        line = proxy.call(lambda: proxy.server.uacreg.lines[LINE])
        assert line.failures >= 3 and not carrier.registered
        assert status(proxy) in (-2, -99)
    finally:
        carrier.close()


def test_interval_too_brief_asks_again_for_min_expires(start_proxy, carrier_port):
    carrier = Carrier(carrier_port, min_expires=120)  # the row asks for 60
    try:
        proxy = start(start_proxy)
        assert wait_for(lambda: status(proxy) == 1, 10)
        assert carrier.asked[0] == 60 and carrier.registered[0].expires == 120
        assert proxy.call(lambda: proxy.server.uacreg.lines[LINE].expires) == 120
    finally:
        carrier.close()


@pytest.mark.slow
def test_kamtool_serve_registers_a_line_added_with_the_cli(tmp_path):
    """The real ``kamtool serve`` process: ``kamtool uacreg add`` on the running server
    (uac.reg_refresh) starts the registration; list/disable/enable go over its RPC."""
    from tests.support.kamtool_proxy import KamtoolProxy

    port = free_port()
    carrier = Carrier(port)
    toml = "uac_reg_timer_interval = 1.0\nuac_reg_retry_interval = 0.5"
    try:
        with KamtoolProxy(tmp_path, proxy_toml=toml) as p:
            rpc = ("--rpc", p.rpc_http_url)
            added = p.kamtool(
                *rpc,
                "uacreg",
                "add",
                LINE,
                "1001",
                "127.0.0.1",
                USER,
                "127.0.0.1",
                REALM,
                USER,
                PASSWORD,
                f"sip:127.0.0.1:{port}",
                "60",
            )
            assert added.returncode == 0, added.stderr
            assert wait_for(lambda: len(carrier.registered) >= 1, 15), p.log_text()[-2000:]

            def state() -> str:
                listed = p.kamtool(*rpc, "--json", "uacreg", "list")
                assert listed.returncode == 0, listed.stderr
                rows = json.loads(listed.stdout)
                rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
                return rows[0]["state"]

            assert wait_for(lambda: "online" in state(), 10)
            assert p.kamtool(*rpc, "uacreg", "disable", LINE).returncode == 0
            assert "disabled" in state()
            sent = len(carrier.registered)
            assert p.kamtool(*rpc, "uacreg", "enable", LINE).returncode == 0
            assert wait_for(lambda: len(carrier.registered) > sent, 10)
    finally:
        carrier.close()


def test_stale_nonce_is_answered_again(start_proxy, carrier_port):
    carrier = Carrier(carrier_port, stale=1)
    try:
        proxy = start(start_proxy)
        assert wait_for(lambda: status(proxy) == 1, 10)
        assert carrier.stale == 0 and carrier.bad == 0
        # challenge, stale, answered again in the same attempt: the third REGISTER got 200
        # (a failed attempt and a new one would have needed four)
        assert carrier.registered[0].cseq.num == 3
    finally:
        carrier.close()


def test_auth_proxy_by_name(start_proxy, proxy_db):
    """auth_proxy sip:localhost:PORT: the name is resolved (/etc/hosts) before sending."""
    port = free_port()
    r = invoke("--db", proxy_db, "uacreg", "add", LINE, "1001", "127.0.0.1", USER,
               "127.0.0.1", REALM, USER, PASSWORD, f"sip:localhost:{port}", "60")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    carrier = Carrier(port)
    try:
        proxy = start(start_proxy)
        assert wait_for(lambda: status(proxy) == 1, 10)
        assert carrier.registered
    finally:
        carrier.close()
