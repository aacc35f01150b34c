"""``kamtool sipreq`` against a real Kamailio 5.6 and kamtool's own proxy: replies with
their times, digest authentication, INVITE with ACK and BYE, --server through
tm.t_uac_wait_block, --no-wait, a source socket, extra headers and a body (read by a peer
of the test), TLS verified against kamtool's CA, and RFC 3263 NAPTR/SRV through a DNS
server on loopback (with failover to the next SRV target)."""

from __future__ import annotations

import socket
import threading

import pytest

from kamtool.sip import parse_message
from tests.proxy.harness import wait_for
from tests.server.conftest import make_pki
from tests.support.cli import invoke
from tests.support.dns_server import DnsServer
from tests.support.kamailio import Kamailio, kamailio_available
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable


def kt(*args: str):
    r = invoke("--json", *args)
    try:
        return r.exit_code, r.json(), r.stderr
    except ValueError:
        return r.exit_code, None, r.stderr + r.stdout


@pytest.fixture(scope="module")
def kam(tmp_path_factory):
    if not kamailio_available():
        unavailable("kamailio (and its SQLite module) is not installed")
    with Kamailio(tmp_path_factory.mktemp("sipreq-kam")) as k:
        yield k


@pytest.fixture(scope="module", params=[pytest.param("kamailio", marks=pytest.mark.kamailio),
                                        "kamtool"])  # fmt: skip
def server(request, tmp_path_factory):
    if request.param == "kamailio":
        yield request.getfixturevalue("kam")
        return
    with KamtoolProxy(tmp_path_factory.mktemp("sipreq-kt")) as p:
        yield p


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_to_the_server(server, transport):
    code, doc, err = kt("sipreq", "OPTIONS", f"sip:127.0.0.1:{server.sip_port}", "-t", transport)
    assert code == 0, err
    assert (doc["status"], doc["reason"]) == (200, "Keepalive")
    assert doc["destination"] == f"{transport}:127.0.0.1:{server.sip_port}"
    assert doc["replies"][-1]["ms"] > 0 and doc["sent_requests"] == ["OPTIONS"]


def test_register_answers_the_challenge(server):
    code, doc, err = kt("sipreq", "REGISTER", f"sip:127.0.0.1:{server.sip_port}",
                        "-u", "1002", "-p", "secret1002", "-H", "Expires: 30")  # fmt: skip
    assert code == 0, err
    assert [r["status"] for r in doc["replies"]] == [401, 200]
    assert doc["sent_requests"] == ["REGISTER", "REGISTER"]
    contacts = server.rpc("ul.lookup", "location", "1002")
    assert contacts["Contacts"][0]["Contact"]["Expires"] <= 30
    # a wrong password: the challenge again, still a final answer (exit 0), status 401
    code, doc, _ = kt("sipreq", "REGISTER", f"sip:127.0.0.1:{server.sip_port}",
                      "-u", "1002", "-p", "wrong")  # fmt: skip
    assert code == 0 and doc["status"] == 401


def test_message_with_body_and_invite_with_ack(server, tmp_path):
    body = tmp_path / "msg.txt"
    body.write_text("hello 1003")
    uri = f"sip:1003@127.0.0.1:{server.sip_port}"
    code, doc, err = kt("sipreq", "MESSAGE", uri, "-b", str(body), "-u", "1001",
                        "-p", "secret1001")  # fmt: skip
    assert code == 0, err
    # 1003 is not registered: challenged, then not found
    assert [r["status"] for r in doc["replies"] if r["status"] >= 200] == [407, 404]
    sdp = tmp_path / "offer.sdp"
    sdp.write_text("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                   "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")  # fmt: skip
    code, doc, err = kt("sipreq", "INVITE", uri, "-b", str(sdp), "-u", "1001",
                        "-p", "secret1001")  # fmt: skip
    assert code == 0, err
    assert doc["status"] == 404 and doc["sent_requests"] == ["INVITE", "INVITE"]


@pytest.mark.kamailio
def test_through_the_server_with_t_uac_wait_block(kam):
    code, doc, err = kt("--rpc", kam.rpc_http_url, "sipreq", "OPTIONS",
                        f"sip:127.0.0.1:{kam.sip_port}", "--server")  # fmt: skip
    assert code == 0, err
    assert (doc["status"], doc["reason"], doc["via"]) == (200, "Keepalive", "tm.t_uac_wait_block")
    code, doc, _ = kt("--rpc", kam.rpc_http_url, "sipreq", "OPTIONS", "sip:127.0.0.1:1",
                      "--server", "--source", "127.0.0.1")  # fmt: skip
    assert code == 2 and "--source" in doc["error"]["message"]


class Peer:
    """A UDP peer that records requests and answers them 200 OK (UDP, loopback)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[bytes, tuple[str, int]]] = []
        self.answer = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from kamtool.sip import make_response

        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue  # idle (a loaded machine): keep listening until close()
            except OSError:
                return
            self.got.append((data, addr))
            req = parse_message(data)
            if self.answer and req.method != "ACK":
                contact = [("Contact", f"<sip:peer@127.0.0.1:{self.port}>")]
                resp = make_response(req, 200, "OK", to_tag="peer1", headers=contact)
                self.sock.sendto(resp.to_bytes(), addr)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


def test_headers_body_and_source_socket_reach_the_peer(tmp_path):
    peer = Peer()
    try:
        src = free_port()
        body = tmp_path / "notify.json"
        body.write_text('{"event": "check-sync"}')
        code, doc, err = kt(
            "sipreq", "NOTIFY", f"sip:phone@127.0.0.1:{peer.port}", "--source",
            f"127.0.0.1:{src}", "-H", "Event: check-sync", "-H", "Subscription-State: active",
            "-b", str(body), "--content-type", "application/json", "--from", "sip:ops@example.com",
        )  # fmt: skip
        assert code == 0, err
        assert doc["status"] == 200
        data, addr = peer.got[0]
        assert addr == ("127.0.0.1", src)
        req = parse_message(data)
        assert req.method == "NOTIFY" and req.body == b'{"event": "check-sync"}'
        assert req.headers.get("Event") == "check-sync"
        assert req.headers.get("Content-Type") == "application/json"
        assert req.from_.uri.user == "ops" and req.to.uri.user == "phone"
        # --no-wait: one datagram, no retransmission, no reply read
        peer.answer = False
        before = len(peer.got)
        code, doc, err = kt("sipreq", "MESSAGE", f"sip:127.0.0.1:{peer.port}", "--no-wait")
        assert code == 0 and doc["waited"] is False and doc["replies"] == []
        assert wait_for(lambda: len(peer.got) == before + 1)  # read before the peer closes
        code, doc, _ = kt("sipreq", "OPTIONS", f"sip:127.0.0.1:{peer.port}", "-H", "Bad")
        assert code == 2 and "Name: value" in doc["error"]["message"]
    finally:
        peer.close()
    assert len(peer.got) == before + 1


def test_an_answered_invite_is_acked_and_hung_up():
    """A 2xx to INVITE: the ACK (a new branch, CSeq of the INVITE) and a BYE in the dialog
    (To tag of the 200, request to its Contact)."""
    peer = Peer()
    try:
        code, doc, err = kt("sipreq", "INVITE", f"sip:bob@127.0.0.1:{peer.port}")
        assert code == 0, err
        assert doc["status"] == 200 and doc["sent_requests"] == ["INVITE", "ACK", "BYE"]
        assert [r["cseq"] for r in doc["replies"]] == ["1 INVITE", "2 BYE"]
    finally:
        peer.close()
    invite, ack, bye = (parse_message(d) for d, _ in peer.got)
    assert (invite.method, ack.method, bye.method) == ("INVITE", "ACK", "BYE")
    assert ack.cseq.num == invite.cseq.num and ack.top_via.branch != invite.top_via.branch
    assert ack.to_tag == bye.to_tag == "peer1" and bye.cseq.num == invite.cseq.num + 1
    assert str(bye.uri) == f"sip:peer@127.0.0.1:{peer.port}"


def test_tls_verified_against_kamtools_ca(tmp_path):
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    args = ("--listen", f"tls:127.0.0.1:{tls_port}", "--tls-certificate", str(pki.cert),
            "--tls-private-key", str(pki.key))  # fmt: skip
    with KamtoolProxy(tmp_path, seed=False, extra_args=args):
        # the certificate is checked against the name of the hop (localhost, in its SANs)
        code, doc, err = kt("sipreq", "OPTIONS", f"sip:127.0.0.1:{tls_port}", "--proxy",
                            f"sips:localhost:{tls_port}", "--ca", str(pki.ca))  # fmt: skip
        assert code == 0, err
        assert doc["status"] == 200 and doc["destination"] == f"tls:127.0.0.1:{tls_port}"
        code, doc, _ = kt("ping", f"sip:127.0.0.1:{tls_port}", "-t", "tls")
        assert code == 11 and "not trusted" in doc["error"]["message"]
        code, doc, err = kt("sipreq", "OPTIONS", f"sip:127.0.0.1:{tls_port}", "-t", "tls",
                            "--insecure")  # fmt: skip
        assert code == 0 and doc["status"] == 200, err


def test_naptr_srv_resolution_with_failover(server):
    port = server.sip_port
    dead = free_port()
    records = [
        ("sip.test", "NAPTR", '10 50 "s" "SIP+D2T" "" _sip._tcp.sip.test.'),
        ("sip.test", "NAPTR", '20 50 "s" "SIP+D2U" "" _sip._udp.sip.test.'),
        ("_sip._tcp.sip.test", "SRV", f"10 0 {port} edge1.sip.test."),
        ("edge1.sip.test", "A", "127.0.0.1"),
        ("_sip._udp.srvonly.test", "SRV", f"10 0 {dead} edge1.sip.test."),
        ("_sip._udp.srvonly.test", "SRV", f"20 0 {port} edge1.sip.test."),
        ("srvonly.test", "TXT", '"no naptr here"'),
        ("plain.test", "A", "127.0.0.1"),
    ]
    with DnsServer(records) as dns:
        server_arg = f"127.0.0.1:{dns.port}"
        code, doc, err = kt("sipreq", "OPTIONS", "sip:sip.test", "--dns-server", server_arg)
        assert code == 0, err
        # the server answers (200, or 407: sip.test is not one of its domains)
        assert doc["destination"] == f"tcp:127.0.0.1:{port}" and doc["status"] in (200, 407)
        assert doc["resolved_by"] == "NAPTR sip.test SRV _sip._tcp.sip.test"
        # no NAPTR: SRV of _sip._udp; priority 10 refuses (ICMP), priority 20 answers
        code, doc, err = kt("ping", "sip:srvonly.test", "--dns-server", server_arg)
        assert code == 0, err
        assert doc["destination"] == f"udp:127.0.0.1:{port}" and doc["status"] in (200, 407)
        assert dns.queries[("_sip._udp.srvonly.test.", "SRV")] > 0
        # neither NAPTR nor SRV: A record, port 5060 (nobody there: refused)
        code, doc, _ = kt("sipreq", "OPTIONS", "sip:plain.test", "--dns-server", server_arg,
                          "--timeout", "2")  # fmt: skip
        assert code in (10, 11) and "127.0.0.1:5060" in doc["error"]["message"]
        code, doc, _ = kt("sipreq", "OPTIONS", "sip:nowhere.test", "--dns-server", server_arg)
        assert code == 11 and "no NAPTR, SRV, A or AAAA" in doc["error"]["message"]


def test_srv_order_is_by_priority_then_weight():
    import random

    from kamtool.core.sipdns import SrvRecord as R
    from kamtool.core.sipdns import srv_order

    recs = [R(priority=20, weight=0, port=3, target="c"), R(priority=10, weight=10, port=2,
            target="b"), R(priority=10, weight=90, port=1, target="a")]  # fmt: skip
    rng = random.Random(7)
    firsts = [srv_order(recs, rng)[0].port for _ in range(1000)]
    assert all(srv_order(recs, rng)[2].port == 3 for _ in range(50))  # priority 20 last
    assert 820 < firsts.count(1) < 970  # weight 90 of 100 goes first ~90% of the time


def test_verbose_shows_every_message_in_order(server):
    uri = f"sip:127.0.0.1:{server.sip_port}"
    code, doc, err = kt("sipreq", "REGISTER", uri, "-u", "1003", "-p", "secret1003", "-v")
    assert code == 0, err
    trace = doc["trace"]
    assert [t["direction"] for t in trace] == ["sent", "received", "sent", "received"]
    assert trace[0]["message"].startswith(f"REGISTER {uri} SIP/2.0\r\n")
    assert trace[1]["message"].startswith("SIP/2.0 401 ")
    assert (
        "Authorization: Digest " in trace[2]["message"] and "secret1003" not in trace[2]["message"]
    )
    assert trace[3]["message"].startswith("SIP/2.0 200 ")
    assert [t["ms"] for t in trace] == sorted(t["ms"] for t in trace)
    r = invoke("sipreq", "OPTIONS", uri, "-v")
    assert r.exit_code == 0 and "--> sent at" in r.stdout and "<-- received at" in r.stdout
    assert "SIP/2.0 200 Keepalive" in r.stdout
