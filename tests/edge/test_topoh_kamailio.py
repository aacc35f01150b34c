"""kamtool's topology hiding against Kamailio 5.6's topoh module: for one mask key the
masks are the same strings, so each restores what the other hid.

A real Kamailio (stateless, record-routing, topoh with Call-ID masking) relays an INVITE
from "Alice" (behind an inside proxy) to "Bob" and Bob's BYE back; both ends are test
sockets on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kamtool.sip import parse_message
from kamtool.sip.topoh import TopoHiding
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = [pytest.mark.kamailio, pytest.mark.slow]

CFG = Path(__file__).with_name("kamailio-topoh.cfg")
MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/topoh.so")
KEY = "kamtool-edge~key]"
MASK_IP = "127.0.0.8"


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1)
    return s


@pytest.fixture
def edge(tmp_path):
    if shutil.which("kamailio") is None or not MODULE.is_file():
        unavailable("Kamailio 5.6 with its topoh module is not installed")
    alice, bob = _udp(), _udp()
    port = free_port()
    log = open(tmp_path / "kamailio.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["kamailio", "-f", str(CFG), "-l", f"udp:127.0.0.1:{port}", "-DD", "-E",
         "-m", "32", "-M", "8", "-w", str(tmp_path), "-Y", str(tmp_path),
         "-P", str(tmp_path / "kamailio.pid"),
         "-A", f'MASKKEY="{KEY}"', "-A", f'MASKIP="{MASK_IP}"',
         "-A", f'NEXTHOP="sip:127.0.0.1:{bob.getsockname()[1]}"'],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(0.5)
    if proc.poll() is not None:
        log.close()
        pytest.fail("Kamailio did not start:\n" + (tmp_path / "kamailio.log").read_text())
    try:
        yield port, alice, bob
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()
        alice.close()
        bob.close()


def _recv(sender: socket.socket, receiver: socket.socket, port: int, data: bytes):
    """Send ``data`` to Kamailio until ``receiver`` gets what it relays (UDP start-up)."""
    for _ in range(10):
        sender.sendto(data, ("127.0.0.1", port))
        try:
            return parse_message(receiver.recvfrom(65535)[0])
        except TimeoutError:
            continue
    raise AssertionError("Kamailio relayed nothing")


def test_masks_equal_kamailios_both_ways(edge):
    port, alice, bob = edge
    th = TopoHiding(KEY, mask_ip=MASK_IP, mask_callid=True)
    a_port = alice.getsockname()[1]
    inside_rr = f"<sip:127.0.0.1:{a_port};lr>"  # the inside proxy: Alice's socket stands in
    vias = [
        f"SIP/2.0/UDP 127.0.0.1:{a_port};branch=z9hG4bK-inside-1;rport",
        "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-alice-1;received=127.0.0.1",
    ]
    contact = "sip:alice@127.0.0.1:5070;transport=tcp"
    invite = (
        f"INVITE sip:bob@127.0.0.1:{port} SIP/2.0\r\n"
        + "".join(f"Via: {v}\r\n" for v in vias)
        + f"Record-Route: {inside_rr}\r\n"
        "From: <sip:alice@example.com>;tag=atag\r\nTo: <sip:bob@example.net>\r\n"
        "Call-ID: edge-th-1@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Contact: <{contact}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    got = _recv(alice, bob, port, invite)

    # what Kamailio hid is what kamtool hides, to the byte, and kamtool restores it
    hidden = [th.decode(v.branch, th.vparam_prefix) for v in got.vias[1:]]
    assert [str(v) for v in got.vias[1:]] == [th.mask_via(v) for v in hidden]
    # the Via Kamailio received the INVITE with carries what it added while holding it
    # (received, rport, and its TH direction cookie, as kamtool's hooks add th)
    assert hidden[1] == vias[1]
    assert hidden[0].startswith(f"SIP/2.0/UDP 127.0.0.1:{a_port};") and "TH=" in hidden[0]
    assert "branch=z9hG4bK-inside-1" in hidden[0]
    assert str(got.contacts[0].uri) == th.mask_uri(contact)
    assert th.masked_uri(got.contacts[0].uri) == contact
    kam_rr, hidden_rr = got.record_routes
    assert kam_rr.uri.host == "127.0.0.1" and str(hidden_rr.uri) == th.mask_uri(inside_rr[1:-1])
    assert got.call_id == th.encode("edge-th-1@127.0.0.1", th.callid_prefix)
    assert b"edge-th-1" not in got.to_bytes() and f":{a_port}".encode() not in got.to_bytes()

    # Bob's BYE, built by kamtool's masking: Kamailio restores target, route and Call-ID
    bye = (
        f"BYE {th.mask_uri(contact)} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{bob.getsockname()[1]};branch=z9hG4bK-bob-bye;rport\r\n"
        f"Route: {kam_rr}, <{th.mask_uri(inside_rr[1:-1])}>\r\n"
        "From: <sip:bob@example.net>;tag=btag\r\nTo: <sip:alice@example.com>;tag=atag\r\n"
        f"Call-ID: {th.encode('edge-th-1@127.0.0.1', th.callid_prefix)}\r\n"
        "CSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    back = _recv(bob, alice, port, bye)
    assert back.method == "BYE" and back.uri_text == contact
    assert back.call_id == "edge-th-1@127.0.0.1"
    assert [str(r) for r in back.routes] == [inside_rr]
    # and Bob's address went inside masked
    assert back.vias[1].host == MASK_IP
    assert th.decode(back.vias[1].branch, th.vparam_prefix).startswith("SIP/2.0/UDP 127.0.0.1:")


def test_kamailio_restores_a_reply_to_a_request_kamtool_masked(edge):
    """An INVITE masked by kamtool's hooks (as if kamtool had Kamailio's address, two
    edges behind one address): Bob's 200 goes to Kamailio, which finds its cookie in
    the Via kamtool hid, restores it and the Call-ID, and relays the 200 to Alice."""
    port, alice, bob = edge
    th = TopoHiding(KEY, mask_ip=MASK_IP, mask_callid=True)
    a_port = alice.getsockname()[1]
    inv = parse_message(
        (
            f"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{a_port};branch=z9hG4bK-alice-2;rport\r\n"
            "From: <sip:alice@example.com>;tag=atag2\r\nTo: <sip:bob@example.net>\r\n"
            "Call-ID: edge-th-2@127.0.0.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:alice@127.0.0.1:{a_port}>\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )

    def ours(uri) -> bool:
        return uri.host == "127.0.0.1" and uri.port == port

    th.received(inv, ours)
    inv.prepend_via(f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-kamtool-2")
    th.sent(inv, ours)
    assert inv.call_id.startswith("!!:") and inv.vias[1].host == MASK_IP
    ok = (
        "SIP/2.0 200 OK\r\n"
        + "".join(f"Via: {v}\r\n" for v in inv.headers.get_all("Via"))
        + "From: <sip:alice@example.com>;tag=atag2\r\nTo: <sip:bob@example.net>;tag=b2\r\n"
        f"Call-ID: {inv.call_id}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:bob@127.0.0.1:{bob.getsockname()[1]}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    back = _recv(bob, alice, port, ok)
    assert back.status == 200 and back.call_id == "edge-th-2@127.0.0.1"
    assert len(back.vias) == 1 and back.vias[0].branch == "z9hG4bK-alice-2"
    assert back.contacts[0].uri.host == MASK_IP  # Bob's Contact hidden by Kamailio
    assert th.masked_uri(back.contacts[0].uri) == f"sip:bob@127.0.0.1:{bob.getsockname()[1]}"
