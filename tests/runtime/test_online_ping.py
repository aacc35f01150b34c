"""kamctl's `online` and `ping` verbs and `pike top --warm`, against a real Kamailio 5.6 and
against kamtool's own proxy (the ``target`` fixture), plus `ping` against peers that stay
silent or refuse."""

from __future__ import annotations

import socket

import pytest

from kamtool.sip import parse_message
from tests.support.cli import invoke
from tests.support.ports import free_port
from tests.support.targets import Target


def test_online_lists_the_aors_with_contacts_as_kamctl_does(target: Target):
    url = target.url("http")
    for user in ("1002", "1001"):
        target.sipsak_register(user, free_port())
    target.sipsak_register("1001", free_port())  # a second contact: still one line
    r = invoke("--rpc", url, "online")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["1001", "1002"]  # sorted, one AoR a line
    r = invoke("--json", "--rpc", url, "online")
    assert r.json() == [{"aor": "1001", "contacts": 2}, {"aor": "1002", "contacts": 1}]
    # kamctl's own output agrees (Kamailio only: kamctl talks to Kamailio's FIFO)
    if target.name == "kamailio":
        assert target.server.kamctl("online").stdout.split() == ["1001", "1002"]
    assert invoke("--rpc", url, "ul", "rm", "1001").exit_code == 0
    assert invoke("--rpc", url, "online").stdout.splitlines() == ["1002"]
    assert invoke("--rpc", url, "ul", "rm", "1002").exit_code == 0
    r = invoke("--rpc", url, "online")
    assert (r.exit_code, r.stdout, r.stderr.strip()) == (0, "", "no user online")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ping_gets_the_keepalive_answer(target: Target, transport):
    uri = f"sip:127.0.0.1:{target.sip_port}"
    r = invoke("--json", "ping", uri, "--transport", transport)
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = r.json()
    # the reference cfg answers OPTIONS to the server itself with 200 Keepalive
    assert (doc["status"], doc["reason"]) == (200, "Keepalive")
    assert doc["status_line"] == "SIP/2.0 200 Keepalive"
    assert doc["destination"] == f"{transport}:127.0.0.1:{target.sip_port}"
    assert doc["rtt_ms"] > 0 and doc["retransmissions"] >= 0
    r = invoke("ping", f"127.0.0.1:{target.sip_port};transport={transport}")
    assert r.exit_code == 0
    assert r.stdout.startswith(
        f"SIP/2.0 200 Keepalive from {transport}:127.0.0.1:{target.sip_port} in "
    )


def test_ping_of_a_user_gets_the_servers_answer(target: Target):
    """Any final answer means the server is alive: a challenge is still an answer."""
    r = invoke("--json", "ping", f"sip:1001@127.0.0.1:{target.sip_port}")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["status"] in (404, 407)  # not registered, or who are you


def test_pike_top_warm(target: Target):
    r = invoke("--json", "--rpc", target.url("http"), "pike", "top", "--warm")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert isinstance(r.json()["rows"], list)
    assert all(row["status"] == "WARM" for row in r.json()["rows"])
    r = invoke("--json", "--rpc", target.url("http"), "pike", "top", "--warm", "--all")
    assert r.exit_code == 2 and r.json()["error"]["code"] == "bad_input"


def test_ping_times_out_after_timer_e_retransmissions():
    """A peer that never answers: the same request again on Timer E's schedule, then
    exit 10 with a clear message."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(0.2)
        port = silent.getsockname()[1]
        r = invoke("--json", "ping", f"sip:127.0.0.1:{port}", "--timeout", "2")
        got = []
        try:
            while True:
                got.append(silent.recv(65535))
        except TimeoutError:
            pass
    assert r.exit_code == 10
    err = r.json()["error"]
    assert err["code"] == "timeout" and f"127.0.0.1:{port}" in err["message"]
    assert len(got) >= 2, "Timer E retransmits before Timer F gives up"
    assert all(d == got[0] for d in got)  # retransmissions are the same request
    req = parse_message(got[0])
    assert req.method == "OPTIONS" and req.top_via.branch.startswith("z9hG4bK")
    assert req.cseq.method == "OPTIONS" and req.max_forwards == 70


def test_ping_refused_and_bad_input():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody holds
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = invoke("ping", f"sip:127.0.0.1:{closed}", "--transport", "tcp")
    assert r.exit_code == 11 and "refused" in r.stderr
    r = invoke("--json", "ping", f"sip:127.0.0.1:{closed}", "--timeout", "3")
    assert r.exit_code == 11 and r.json()["error"]["code"] == "unreachable"
    assert invoke("ping", "sip:127.0.0.1:5060", "--transport", "sctp").exit_code == 2
    assert invoke("ping", "sip:[bad").exit_code == 2
