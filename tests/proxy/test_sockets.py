"""Several listeners: every message leaves from the right socket and says so.

A proxy on ``udp:127.0.0.1``, ``udp:127.0.0.2`` and ``udp:[::1]`` with phones on real
UDP sockets (IPv4 and IPv6 loopback). What Kamailio does, and what is checked here:

* a contact registered on a socket gets its requests from that socket (the location
  ``socket`` column: force_send_socket), its Via and Record-Route name that socket;
* an IPv6 destination is reached from the IPv6 socket;
* when the outbound socket differs from the inbound one the request carries two
  Record-Route entries of ours (enable_double_rr), and an in-dialog request coming back
  through both leaves from the socket the second one names, whichever side sends it.
"""

from __future__ import annotations

import itertools
import socket

import pytest

from kamtool.proxy.config import Listen
from kamtool.sip.parser import parse_message
from tests.proxy.conftest import need
from tests.proxy.harness import (
    USERS,
    RunningProxy,
    UdpClient,
    add_subscriber,
    call,
    explain,
    make_config,
    register,
    sipp_peer,
)
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(60)
NAT_HOST = "192.168.77.10"  # what a NATed phone believes its address is


def _free_v6_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def _hp(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Phone:
    """A UA on its own UDP socket at ``host``; sends to one proxy socket ``via``."""

    _seq = itertools.count(1)

    def __init__(self, user: str, host: str, proxy: tuple[str, int]) -> None:
        self.user, self.host, self.proxy = user, host, proxy
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.contact = f"sip:{user}@{_hp(host, self.port)}"

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str, to: tuple[str, int] | None = None) -> None:
        self.sock.sendto(text.encode(), to or self.proxy)

    def recv(self) -> tuple[object, tuple[str, int]]:
        """The next message and the proxy address it came from."""
        data, addr = self.sock.recvfrom(65535)
        return parse_message(data), (addr[0], addr[1])

    def final(self):
        while True:
            msg, _ = self.recv()
            if msg.status >= 200:
                return msg

    def request(self, method: str, uri: str, to_user: str, call_id: str, cseq: int,
                extra: list[str] = (), to_tag: str | None = None) -> str:  # fmt: skip
        branch = f"z9hG4bK-{self.user}-{next(self._seq)}"
        to = f"<sip:{to_user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {_hp(self.host, self.port)};rport;branch={branch}",
            f"From: <sip:{self.user}@127.0.0.1>;tag=t{self.user}",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <{self.contact}>",
            "Max-Forwards: 70",
            *extra,
        ]
        return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"

    def register(self) -> int:
        uri = "sip:127.0.0.1"
        self.send(self.request("REGISTER", uri, self.user, f"reg-{self.user}", 1, ["Expires: 300"]))
        return self.final().status

    def answer(self, req, status: int = 200, tag: str | None = "callee") -> None:
        """Answer ``req`` (Vias and Record-Routes copied) to where it came from."""
        lines = [f"SIP/2.0 {status} OK"]
        lines += [f"Via: {v}" for v in req.headers.get_all("via")]
        lines += [f"Record-Route: {r}" for r in req.headers.get_all("record-route")]
        to = req.headers.get("to") + (
            f";tag={tag}" if tag and "tag=" not in req.headers.get("to") else ""
        )
        lines += [f"From: {req.headers.get('from')}", f"To: {to}"]
        lines += [f"Call-ID: {req.headers.get('call-id')}", f"CSeq: {req.headers.get('cseq')}"]
        lines += [f"Contact: <{self.contact}>"]
        via = req.top_via
        self.send("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n",
                  (via.received or via.host, via.rport or via.port or 5060))  # fmt: skip


@pytest.fixture
def multi(proxy_db):
    """A proxy on three UDP sockets: 127.0.0.1, 127.0.0.2 (another port), [::1]."""
    sockets = (
        Listen("udp", "127.0.0.1", free_port()),
        Listen("udp", "127.0.0.2", free_port("127.0.0.2")),
        Listen("udp", "::1", _free_v6_port()),
    )
    proxy = RunningProxy(make_config(proxy_db, listen=sockets, auth=False)).start()
    yield proxy, sockets
    proxy.stop()


def _rr_hostports(msg) -> list[str]:
    return [f"{r.uri.host}:{r.uri.port}" for r in msg.record_routes]


def test_each_contact_is_reached_from_its_socket_with_double_record_route(multi):
    proxy, (v4, v4b, v6) = multi
    caller = Phone("1001", "127.0.0.1", (v4.host, v4.port))
    second = Phone("1002", "127.0.0.1", (v4b.host, v4b.port))  # registers on 127.0.0.2
    v6phone = Phone("1003", "::1", (v6.host, v6.port))
    try:
        for p in (caller, second, v6phone):
            assert p.register() == 200
        # 1001 (in on 127.0.0.1) calls 1002, registered on 127.0.0.2: out from there
        for callee, out in ((second, v4b), (v6phone, v6)):
            call_id = f"call-{callee.user}"
            caller.send(caller.request("INVITE", f"sip:{callee.user}@127.0.0.1",
                                       callee.user, call_id, 1))  # fmt: skip
            invite, source = callee.recv()
            assert invite.method == "INVITE"
            assert source[:2] == (out.host, out.port)  # sent from the contact's socket
            top = invite.top_via
            assert (top.host, top.port) == (out.host, out.port)  # and the Via says so
            # double Record-Route: the outbound socket on top, the inbound one below
            assert _rr_hostports(invite)[:2] == [f"{out.host}:{out.port}", f"{v4.host}:{v4.port}"]
            assert all("r2=on" in str(r) for r in invite.record_routes[:2])
            callee.answer(invite)
            ok = caller.final()
            assert ok.status == 200
            routes = [f"Route: {r}" for r in reversed(ok.headers.get_all("record-route"))]
            to_tag = ok.to_tag
            # the caller's BYE goes through both entries and leaves from the callee's socket
            bye = caller.request("BYE", callee.contact, callee.user, call_id, 2, routes,
                                 to_tag=to_tag)  # fmt: skip
            caller.send(bye)
            got, source = callee.recv()
            assert got.method == "BYE" and got.routes == []
            assert source[:2] == (out.host, out.port)
            assert (got.top_via.host, got.top_via.port) == (out.host, out.port)
            callee.answer(got, tag=None)
            assert caller.final().status == 200

        # the other way: the IPv6 callee hangs up a new call through its own route set
        caller.send(caller.request("INVITE", "sip:1003@127.0.0.1", "1003", "call-back", 1))
        invite, _ = v6phone.recv()
        v6phone.answer(invite, tag="v6")
        assert caller.final().status == 200
        routes = [f"Route: {r}" for r in invite.headers.get_all("record-route")]
        bye = (
            f"BYE {caller.contact} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {_hp('::1', v6phone.port)};rport;branch=z9hG4bK-v6bye\r\n"
            f"From: {invite.headers.get('to')};tag=v6\r\nTo: {invite.headers.get('from')}\r\n"
            f"Call-ID: call-back\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\n"
            + "".join(r + "\r\n" for r in routes)
            + "Content-Length: 0\r\n\r\n"
        )
        v6phone.send(bye)
        got, source = caller.recv()
        assert got.method == "BYE"
        assert source[:2] == (v4.host, v4.port)  # back on the caller's side: IPv4 socket
        assert (got.top_via.host, got.top_via.port) == (v4.host, v4.port)
        caller.answer(got, tag=None)
        assert v6phone.final().status == 200
    finally:
        for p in (caller, second, v6phone):
            p.close()


def test_same_socket_keeps_a_single_record_route(multi):
    """In and out on 127.0.0.1: one Record-Route entry, as before."""
    proxy, (v4, _, _) = multi
    caller = Phone("1001", "127.0.0.1", (v4.host, v4.port))
    callee = Phone("1002", "127.0.0.1", (v4.host, v4.port))
    try:
        assert callee.register() == 200
        caller.send(caller.request("INVITE", "sip:1002@127.0.0.1", "1002", "single", 1))
        invite, source = callee.recv()
        assert source[:2] == (v4.host, v4.port)
        assert _rr_hostports(invite) == [f"{v4.host}:{v4.port}"]
        assert "r2=on" not in str(invite.record_routes[0])
        callee.answer(invite)
        assert caller.final().status == 200
    finally:
        caller.close()
        callee.close()


def test_sipp_call_from_ipv4_second_socket_to_an_ipv6_phone(proxy_db):
    """Real SIPp peers with digest: 1002 registers over IPv6 on ``[::1]``, 1001 calls
    it through the proxy's second IPv4 socket (127.0.0.2); the INVITE reaches the IPv6
    phone, the ACK and the BYE follow the double Record-Route, both scenarios pass."""
    need("sipp")
    # the realm is the host the phone wrote: the subscribers for these two hosts
    add_subscriber(proxy_db, "1002", USERS["1002"], domain="::1")
    add_subscriber(proxy_db, "1001", USERS["1001"], domain="127.0.0.2")
    v4b = Listen("udp", "127.0.0.2", free_port("127.0.0.2"))
    v6 = Listen("udp", "::1", _free_v6_port())
    sockets = (Listen("udp", "127.0.0.1", free_port()), v4b, v6)
    proxy = RunningProxy(make_config(proxy_db, listen=sockets)).start()
    try:
        phone_port = _free_v6_port()
        v6_peer = dict(proxy_host="::1", local_ip="::1")
        register(v6.port, "1002", local_port=phone_port, **v6_peer)
        with sipp_peer("uas_answer.xml", v6.port, phone_port, **v6_peer):
            res = call(v4b.port, proxy_host="127.0.0.2")
            assert res.returncode == 0, explain(res)
    finally:
        proxy.stop()


def test_nat_keepalive_leaves_from_the_socket_the_contact_registered_on(proxy_db):
    """A NATed phone registered on 127.0.0.2 gets its keepalive OPTIONS from there (its
    NAT binding is towards that address), with a Via naming it."""
    first = Listen("udp", "127.0.0.1", free_port())
    second = Listen("udp", "127.0.0.2", free_port("127.0.0.2"))
    config = make_config(proxy_db, listen=(first, second), natping_interval=1)
    proxy = RunningProxy(config).start()
    client = UdpClient(second.port)
    client.proxy = (second.host, second.port)
    try:
        contact = f"<sip:1003@{NAT_HOST}:5060>"
        assert client.register("1003", USERS["1003"], [contact]).status == 200
        data, source = client.sock.recvfrom(65535)
        ping = parse_message(data)
        assert ping.method == "OPTIONS"
        assert source == (second.host, second.port)
        assert (ping.top_via.host, ping.top_via.port) == (second.host, second.port)
    finally:
        client.close()
        proxy.stop()


def test_socket_choice_by_family_route_and_forced_destination():
    """Transports.socket_for on real bound sockets: the destination's family, the
    address the kernel routes from (mhomed), a forced socket, and None when no socket
    of that protocol and family exists (no IPv4 socket sends to an IPv6 host)."""
    import asyncio

    from kamtool.proxy.transport import Transports

    loop = asyncio.new_event_loop()
    a = Listen("udp", "127.0.0.2", free_port("127.0.0.2"))
    b = Listen("udp", "127.0.0.1", free_port())
    v6 = Listen("udp", "::1", _free_v6_port())
    t = Transports(loop, lambda *args: None)
    try:
        loop.run_until_complete(t.bind((a, b)))
        assert t.socket_for("udp", "::1", 5060) is None  # no IPv6 socket yet
        assert t.send("udp", ("::1", 5060), b"x") is False
        assert t.socket_for("tcp", "127.0.0.1", 5060) is None  # no TCP listener
        loop.run_until_complete(t.bind((v6,)))
        assert t.socket_for("udp", "::1", 5060) == v6
        # the kernel reaches 127.0.0.1 from 127.0.0.1: that listener, not the first one
        assert t.socket_for("udp", "127.0.0.1", 5999) == b
        assert t.listen_named(a.socket_str) == a
        assert t.listen_named("udp:10.9.9.9:5060") is None
        assert t.listen_named("not a socket") is None
        t.force(("udp", "127.0.0.1", 5999), a)
        assert t.socket_for("udp", "127.0.0.1", 5999) == a
        assert t.socket_for("udp", "127.0.0.1", 5998) == b  # only that destination
    finally:
        loop.run_until_complete(t.close())
        loop.close()
