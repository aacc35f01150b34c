"""What an outside tester sends by hand, over UDP and TCP, to a real Kamailio 5.6 and to
``kamtool serve`` (same reference cfg, same rows): both must answer alike. The peer is
tests/interop/wire.py (its own parser, not kamtool's). Where the two differ on purpose the
test says so next to the assertion."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.interop.conftest import TRANSPORTS
from tests.interop.wire import Msg, Peer, contacts, register

pytestmark = pytest.mark.parametrize("transport", TRANSPORTS)


def drain_kamailio_extra_reply(target, peer: Peer) -> None:
    """Kamailio 5.6.3 answers a REGISTER that save() refuses twice: the registrar's 400,
    then the cfg's sl_reply_error() adds "500 I'm terribly sorry..." to the same request
    (two final replies, against RFC 3261 §8.2.6). kamtool sends the 400 only."""
    if target.name == "kamailio":
        extra = peer.recv()
        assert extra.status == 500 and extra.get("cseq").endswith("REGISTER")
    else:
        assert peer.silence(0.5)


@contextmanager
def registered_uas(target, transport: str, user: str = "1002") -> Iterator[Peer]:
    """A UA registered as ``user`` for the duration; unregistered (``Contact: *``) after."""
    with Peer(transport, target.sip_port) as uas:
        ok = register(uas, user, [f"Contact: {uas.contact(user)}", "Expires: 600"])
        assert ok.status == 200, ok.first
        try:
            yield uas
        finally:
            gone = register(uas, user, ["Contact: *", "Expires: 0"])
            assert gone.status == 200, gone.first


def assert_local_reply(msg: Msg, peer: Peer, target) -> None:
    """What every reply the server makes itself carries."""
    via = msg.get("via")
    assert f"rport={peer.port}" in via and "received=127.0.0.1" in via
    assert ";tag=" in msg.get("to")
    # Kamailio's default server_signature=yes names its version to anyone; kamtool keeps
    # server_signature off unless configured (no version disclosure to scanners).
    assert bool(msg.get("server")) == (target.name == "kamailio")


def test_keepalive_options(target, transport):
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", f"sip:127.0.0.1:{target.sip_port}"))
        assert (r.status, r.reason) == (200, "Keepalive")
        assert_local_reply(r, p, target)


def test_request_without_max_forwards_is_served(target, transport):
    # mf_process_maxfwd_header() adds the header when missing instead of refusing
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", f"sip:127.0.0.1:{target.sip_port}", max_forwards=None))
        assert (r.status, r.reason) == (200, "Keepalive")


def test_max_forwards_zero_is_483(target, transport):
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", "sip:1002@127.0.0.1", max_forwards=0))
        assert (r.status, r.reason) == (483, "Too Many Hops")
        assert_local_reply(r, p, target)


@pytest.mark.parametrize(("sent", "relayed"), [(70, "69"), (71, "70"), (255, "70"),
                                              (300, "70"), (65535, "70")])  # fmt: skip
def test_a_large_max_forwards_is_lowered_to_max_limit(target, transport, sent, relayed):
    """maxfwd's max_limit (70): RFC 3261 sets no upper bound (1*DIGIT), so a value over
    255 is served, not refused. (From 65536 on, Kamailio 5.6 cannot read the number and
    answers 483 Too Many Hops, a bug; kamtool reads it as 65535 and lowers it too.)"""
    with registered_uas(target, transport) as uas, Peer(transport, target.sip_port) as p:
        p.send(p.request("OPTIONS", "sip:1002@127.0.0.1", max_forwards=sent))
        got = uas.recv()
        assert got.method == "OPTIONS" and got.get("max-forwards") == relayed
        uas.reply_to(got, 200, "OK")
        assert p.final().status == 200


def test_max_forwards_one_reaches_a_registered_user_with_zero(target, transport):
    with registered_uas(target, transport) as uas, Peer(transport, target.sip_port) as p:
        p.send(p.request("OPTIONS", "sip:1002@127.0.0.1", max_forwards=1))
        got = uas.recv()
        assert got.method == "OPTIONS" and got.get("max-forwards") == "0"
        assert len(got.all("via")) == 2
        uas.reply_to(got, 200, "OK")
        r = _final(p)
        assert (r.status, r.get("to").endswith("tag=uas1")) == (200, True)


def _final(p: Peer) -> Msg:
    while True:
        msg = p.recv()
        if msg.status >= 200:
            return msg


def test_register_several_contacts_then_star_removes_them(target, transport):
    with Peer(transport, target.sip_port) as p:
        try:
            _register_several(target, p, transport)
        finally:
            gone = register(p, "1003", ["Contact: *", "Expires: 0"])
        assert gone.status == 200 and contacts(gone) == []
        # Contact: * with a non-zero expiry is refused (RFC 3261 §10.3 step 6). kamtool
        # refuses it before the challenge (nothing to authenticate in a malformed
        # request); Kamailio challenges first. Reasons differ: Kamailio "Bad Request"
        # with P-Registrar-Error, kamtool names the fault.
        bad = register(p, "1003", ["Contact: *", "Expires: 60"])
        assert bad.status == 400
        drain_kamailio_extra_reply(target, p)


def _register_several(target, p: Peer, transport: str) -> None:
    many = [
        "Contact: <sip:1003@127.0.0.1:40001>, <sip:1003@127.0.0.1:40002>;expires=30",
        "Contact: <sip:1003@127.0.0.1:40003>;q=0.5",
        "Expires: 600",
    ]
    r = register(p, "1003", many)
    assert r.status == 200
    assert_local_reply(r, p, target)
    # Kamailio folds the bindings into one Contact header, kamtool sends one header
    # each: the same list either way (RFC 3261 §7.3.1)
    # over TCP from another port than the contacts', kamtool keeps the connection's
    # peer as the binding's received address (it reaches the UA over that connection
    # while it lives) and says so with ;received="..." as Kamailio's registrar does
    # for a received address; Kamailio sets none here (it would connect anew)
    got = sorted(c.split(";received=")[0] for c in contacts(r))
    assert got == [
        "<sip:1003@127.0.0.1:40001>;expires=600",
        "<sip:1003@127.0.0.1:40002>;expires=30",
        "<sip:1003@127.0.0.1:40003>;q=0.5;expires=600",
    ]
    rows = target.rpc("ul.lookup", "location", "1003")["Contacts"]
    assert len(rows) == 3
    # a REGISTER without Contact fetches the bindings
    assert len(contacts(register(p, "1003", []))) == 3


def test_message_to_an_offline_user_is_404(target, transport):
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("MESSAGE", "sip:1003@127.0.0.1", body="hi",
                            headers=["Content-Type: text/plain"]))  # fmt: skip
        assert (r.status, r.reason) == (404, "Not Found")
        assert ";tag=" in r.get("to")


def test_request_to_an_unknown_domain_is_404(target, transport):
    # From is a local user (trusted source), so it is not "403 Not relaying": the foreign
    # domain goes to lookup(), which has nothing for it
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("MESSAGE", "sip:1003@example.com", body="hi",
                            headers=["Content-Type: text/plain"]))  # fmt: skip
        assert (r.status, r.reason) == (404, "Not Found")


@pytest.mark.parametrize("method", ["INVITE", "BYE"])
def test_in_dialog_request_matching_no_dialog_is_404_not_here(target, transport, method):
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request(method, "sip:1002@127.0.0.1", to="<sip:1002@127.0.0.1>;tag=nosuch",
                            headers=[f"Contact: {p.contact('1001')}"]))  # fmt: skip
        assert (r.status, r.reason) == (404, "Not here")
        assert r.get("to") == "<sip:1002@127.0.0.1>;tag=nosuch"  # the UAC's tag kept


def test_request_without_user_is_484(target, transport):
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("MESSAGE", "sip:127.0.0.1", body="x",
                            headers=["Content-Type: text/plain"]))  # fmt: skip
        assert (r.status, r.reason) == (484, "Address Incomplete")


@pytest.mark.parametrize("route", [False, True])
def test_options_and_message_to_a_registered_user_are_relayed(target, transport, route):
    """Relayed to the UA's contact; with a Route header naming only us, the route is
    consumed (remove_hf("Route") on an initial request) and the request still reaches it."""
    extra = [f"Route: <sip:127.0.0.1:{target.sip_port};lr>"] if route else []
    with registered_uas(target, transport) as uas, Peer(transport, target.sip_port) as p:
        for method in ("OPTIONS", "MESSAGE"):
            p.send(p.request(method, "sip:1002@127.0.0.1", headers=extra))
            got = uas.recv()
            assert got.method == method and got.first.startswith(f"{method} sip:1002@127.0.0.1:")
            assert got.get("max-forwards") == "69" and not got.all("route")
            uas.reply_to(got, 200, "OK")
            r = _final(p)
            assert r.status == 200 and r.get("cseq") == f"1 {method}"


@pytest.mark.parametrize("uri", ["sip:1002@127.0.0.2:{port}", "sip:1002@localhost", "tel:1002"])
def test_any_domain_or_a_tel_number_is_looked_up_by_user(target, transport, uri):
    """usrloc use_domain 0: lookup("location") matches the R-URI user whatever the host,
    and a tel: number is its user, so these reach 1002's phone; nothing is sent to the
    R-URI's own host (kamtool used to relay there, and answer tel: with a 500)."""
    with (
        registered_uas(target, transport) as uas,
        Peer(transport, target.sip_port) as p,
        Peer(transport, target.sip_port) as elsewhere,
    ):
        p.send(p.request("MESSAGE", uri.format(port=elsewhere.port), body="x",
                         headers=["Content-Type: text/plain"]))  # fmt: skip
        got = uas.recv()
        assert got.first.startswith("MESSAGE sip:1002@127.0.0.1:")
        uas.reply_to(got, 200, "OK")
        assert _final(p).status == 200
        assert elsewhere.silence(0.3)


def test_malformed_or_unsupported_requests(target, transport):
    """Where kamtool answers and Kamailio 5.6.3 does not (kept on purpose):
    * ``Proxy-Require: foo``: RFC 3261 §16.3 step 5 says a proxy MUST refuse an unknown
      extension with 420 and ``Unsupported``; Kamailio (sanity_check proxy-require on)
      lets it through to lookup (404 here);
    * ``SIP/3.0``: kamtool answers 505 Version Not Supported, Kamailio drops it;
    * no Call-ID: kamtool answers 400, Kamailio drops it silently.
    Both refuse a CSeq whose method differs from the request's, with 400."""
    kam = target.name == "kamailio"
    with Peer(transport, target.sip_port) as p:
        r = p.ask(p.request("OPTIONS", "sip:1002@127.0.0.1", headers=["Proxy-Require: foo"]))
        assert (r.status, r.get("unsupported")) == ((404, "") if kam else (420, "foo"))
        bad = p.request("OPTIONS", "sip:1002@127.0.0.1").replace(
            b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"
        )
        assert p.ask(bad).status == 400
        v3 = p.request("OPTIONS", "sip:1002@127.0.0.1").replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1)
        lines = p.request("OPTIONS", "sip:1002@127.0.0.1").split(b"\r\n")
        no_call_id = b"\r\n".join(x for x in lines if not x.startswith(b"Call-ID"))
        for data, status in ((v3, 505), (no_call_id, 400)):
            p.send(data)
            if kam:
                assert p.silence(0.5)
            else:
                assert _final(p).status == status
