"""What the live SIP fuzzer (tests/support/sip_fuzz_live.py) found in ``kamtool serve``,
each as the smallest message that did it: every one left a traceback in the log (and
lost the message or its reply). The hunt: tests/support/sip_fuzz_live.py."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.sip_fuzz_live import (
    EXTRA_ARGS,
    PROXY_TOML,
    Fuzzer,
    Link,
    bad_log_lines,
    sip_request,
)
from tests.support.sip_fuzz_live import reply_to as _reply


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    with KamtoolProxy(tmp_path_factory.mktemp("fuzzfind"), proxy_toml=PROXY_TOML,
                      extra_args=EXTRA_ARGS) as p:  # fmt: skip
        yield p


@pytest.fixture(scope="module")
def phone(proxy):
    """User 1002 registered at a UDP socket of ours (its digest computed); one for the
    module: a second contact would fork the calls."""
    fz = Fuzzer(7, proxy.sip_port, ("UDP",))
    fz.setup()
    assert "1002" in str(proxy.rpc("ul.dump"))
    yield fz
    fz.close()


@pytest.fixture
def clean_log(proxy):
    """Asserts that the test added no traceback or exception line to the proxy's log."""
    before = len(bad_log_lines(proxy.log_text()))
    yield
    time.sleep(0.3)
    assert bad_log_lines(proxy.log_text())[before:] == []


def _invite_at_phone(phone: Fuzzer) -> bytes:
    """The INVITE the proxy relayed to the phone."""
    got = [d for d in phone.uas.recv(2.0) if d.startswith(b"INVITE ")]
    assert got, "the INVITE did not reach the phone"
    return got[0]


def _responses(link: Link, wait: float = 2.0) -> list[bytes]:
    return [d for d in link.recv(wait) if d.startswith(b"SIP/2.0 ")]


def test_a_via_of_commas_only_is_refused_not_crashed_on(proxy, clean_log):
    """``Via: ,`` parsed as no Via at all: tm's server_key raised IndexError."""
    tcp = Link("TCP", proxy.sip_port)
    inv = sip_request("INVITE", "sip:1002@127.0.0.1", "TCP", tcp.lport, 1)
    tcp.send(inv.replace(inv.split(b"\r\n")[1], b"Via: ,"))
    tcp.recv(0.5)  # nothing to answer to (no Via): dropped or 400, never a traceback
    tcp.close()


def test_a_call_id_with_bytes_that_are_not_utf8_gets_its_dialog(proxy, clean_log):
    """The dialog's hash entry encoded the Call-ID strictly: UnicodeEncodeError out of
    t_relay for a Call-ID the parser keeps as surrogates (and then out of the JSON-RPC
    printer for dlg.list)."""
    udp = Link("UDP", proxy.sip_port)
    inv = sip_request("INVITE", "sip:9001@127.0.0.1", "UDP", udp.lport, 2, call_id="\xa1x")
    udp.send(inv.replace("\xa1x@".encode(), b"\xa1x@"))
    replies = _responses(udp, 1.0)
    assert replies and replies[0].startswith(b"SIP/2.0 100"), replies
    udp.close()
    # and dlg.list printed it: strict UTF-8 refused the surrogate (HTTP RPC connection
    # failed); it is a \udcXX escape now, valid JSON that gives the same string back
    assert any(d["call-id"] == "\udca1x@127.0.0.1" for d in proxy.rpc("dlg.list")), proxy.rpc(
        "dlg.list"
    )


@pytest.mark.parametrize("maddr", ["*", "[::1]", "example.invalid"])
def test_a_via_maddr_does_not_steer_stateful_replies(proxy, phone, clean_log, maddr):
    """tm sent its replies to the top Via's maddr (sl to the source, as Kamailio's
    reply_to_via=0 does both): '*', a name or an IPv6 address on an IPv4 socket raised
    out of the reply path and the caller never got its 486."""
    udp = Link("UDP", proxy.sip_port)
    inv = sip_request("INVITE", "sip:1002@127.0.0.1", "UDP", udp.lport, 30 + len(maddr))  # own ids
    udp.send(inv.replace(b";rport", f";rport;maddr={maddr}".encode()))
    phone.uas.send(_reply(_invite_at_phone(phone), 486, "Busy Here"))
    assert any(r.startswith(b"SIP/2.0 486") for r in _responses(udp))
    udp.close()


def test_a_reply_to_bye_with_a_broken_to_is_dropped_not_accounted(proxy, phone, clean_log):
    """acc read the relayed 200's To and raised ParseError (logged with a traceback).
    Such a reply is now dropped before tm takes it (see the tests below)."""
    udp = Link("UDP", proxy.sip_port)
    target = f"sip:1002@127.0.0.1:{phone.uas.lport}"
    bye = sip_request("BYE", target, "UDP", udp.lport, 4, to="sip:1002@127.0.0.1", to_tag="t4",
               extra=(f"Route: <sip:127.0.0.1:{proxy.sip_port};lr>",))  # fmt: skip
    udp.send(bye)
    got = [d for d in phone.uas.recv(2.0) if d.startswith(b"BYE ")]
    assert got, "the BYE did not reach the phone"
    ok = _reply(got[0], 200, "OK").replace(b"To: <sip:1002@127.0.0.1>", b"To: <1002@>")
    phone.uas.send(ok)
    assert not any(r.startswith(b"SIP/2.0 200") for r in _responses(udp, 0.5))
    udp.close()


def test_acc_takes_the_requests_to_tag_when_the_replys_does_not_parse():
    """acc on its own (a reply that reached it anyway): Kamailio's acc takes the
    request's To when the reply has none it can use."""
    from kamtool.proxy.acc import ACC, cdrs_for
    from kamtool.sip.parser import parse_message

    bye = sip_request("BYE", "sip:b@127.0.0.1", "UDP", 5060, 5, to_tag="req-tag")
    ok = _reply(bye, 200, "OK").replace(b"To: <sip:b@127.0.0.1>;tag=req-tag", b"To: <b@>")
    (cdr,) = cdrs_for(ACC, parse_message(bye), parse_message(ok, eager=False), 0.0)
    assert cdr.to_tag == "req-tag" and cdr.from_tag == "f5"


def test_a_failure_reply_whose_to_does_not_parse_is_dropped_whole(proxy, phone, clean_log):
    """The hop-by-hop ACK copies the To of a 486: a To that did not parse raised in the
    middle of the client transaction's move to Completed (stopped timers, no ACK built,
    nothing passed up); its retransmission then resent that ACK: None, TypeError. Now
    such a reply is dropped before the transaction moves, as any malformed reply."""
    udp = Link("UDP", proxy.sip_port)
    udp.send(sip_request("INVITE", "sip:1002@127.0.0.1", "UDP", udp.lport, 6))
    busy = _reply(_invite_at_phone(phone), 486, "Busy Here")
    busy = busy.replace(b"To: <sip:1002@127.0.0.1>", b"To: <1002@>")
    phone.uas.send(busy)
    phone.uas.send(busy)  # the retransmission
    assert not any(r.startswith(b"SIP/2.0 486") for r in _responses(udp, 0.5))
    # the transaction still waits for a final reply, and takes a good one
    phone.uas.send(busy.replace(b"To: <1002@>", b"To: <sip:1002@127.0.0.1>"))
    assert any(r.startswith(b"SIP/2.0 486") for r in _responses(udp))
    udp.close()


def test_a_reply_whose_connection_closed_and_whose_via_names_garbage(proxy, phone, clean_log):
    """The caller's TCP connection closed before the reply: the reply goes over a new
    connection to its Via's received= (RFC 3261 18.2.2). A name idna refuses there (a
    70-character label) raised UnicodeError in the connect task ("Task exception was
    never retrieved"); now it is a failed connect like any other."""
    tcp = Link("TCP", proxy.sip_port)
    tcp.send(sip_request("INVITE", "sip:1002@127.0.0.1", "TCP", tcp.lport, 5))
    inv = _invite_at_phone(phone)
    tcp.close()
    time.sleep(0.2)
    busy = _reply(inv, 486, "Busy Here")
    phone.uas.send(busy.replace(b";received=127.0.0.1", b";received=" + b"a" * 70 + b".invalid"))
    deadline = time.monotonic() + 3
    while "tcp connect to aaaa" not in proxy.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "tcp connect to aaaa" in proxy.log_text()


def test_the_proxy_still_answers(proxy):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        s.sendto(sip_request("OPTIONS", "sip:127.0.0.1", "UDP", s.getsockname()[1], 9),
                 ("127.0.0.1", proxy.sip_port))  # fmt: skip
        assert s.recv(4096).startswith(b"SIP/2.0 200")


@pytest.fixture(scope="module")
def quick_proxy(tmp_path_factory):
    """The proxy with fr_inv_timer 2 s: a branch that never ends shows within the test."""
    with KamtoolProxy(
        tmp_path_factory.mktemp("fuzzfind2"),
        proxy_toml=PROXY_TOML + "fr_inv_timer = 2\nfr_timer = 2\n",
        extra_args=EXTRA_ARGS,
    ) as p:
        yield p


@pytest.mark.parametrize(
    ("code", "old", "new"),
    [
        (200, b"To: <sip:1002@127.0.0.1>", b"To: <"),  # dialogs read its To tag
        (486, b"Contact: <sip:", b"Contact: <sip\r\n :"),  # the NAT reply route its Contact
    ],
)
def test_a_broken_reply_is_dropped_before_the_transaction_moves(quick_proxy, code, old, new):
    """The sip layer took such a reply (Accepted/Completed) and only then tm's dialog
    step or reply route raised ParseError on it: dropped as malformed half-way, the
    branch waited for a reply that had come, past fr_inv_timer, forever (found by the
    fuzzer: server transactions and dialogs left after minutes). Now a reply with a
    routing header that does not parse is dropped whole: the branch times out (408)."""
    proxy = quick_proxy
    phone = Fuzzer(8, proxy.sip_port, ("UDP",))
    phone.setup()
    udp = Link("UDP", proxy.sip_port)
    try:
        udp.send(sip_request("INVITE", "sip:1002@127.0.0.1", "UDP", udp.lport, 60 + code))
        phone.uas.send(_reply(_invite_at_phone(phone), code, "X").replace(old, new, 1))
        got: list[bytes] = []
        deadline = time.monotonic() + 6
        while not any(r.startswith(b"SIP/2.0 408") for r in got) and time.monotonic() < deadline:
            got += _responses(udp, 0.5)
        assert any(r.startswith(b"SIP/2.0 408") for r in got), got
        deadline = time.monotonic() + 5
        while proxy.rpc("tm.stats")["waiting"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proxy.rpc("tm.stats")["waiting"] == 0
        assert bad_log_lines(proxy.log_text()) == []
    finally:
        udp.close()
        phone.close()
