"""route[DISPATCH] with real peers: a SIPp caller (1001, digest auth) calls 9xxx through the
proxy to dispatcher set 1, whose destinations are SIPp UAS instances or UDP peers on
loopback. Round-robin, failover on 500 and on silence, CANCEL not retried, disabled
destinations, 404 "No destination", OPTIONS probing bringing a destination back, and the
RPC/CLI/metrics views of the same state."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.proxy import harness
from tests.proxy.conftest import need
from tests.proxy.harness import explain, wait_for
from tests.proxy.peers import UdpPeer, sipp_uas, stop
from tests.support.cli import invoke
from tests.support.ports import free_port

pytestmark = pytest.mark.sipp


def seed(db_url: str, *destinations: tuple[str, int], set_id: int = 1) -> None:
    """Rows of ``set_id`` as ``kamtool dispatcher add`` writes them: (uri, priority)."""
    for uri, priority in destinations:
        r = invoke("--db", db_url, "dispatcher", "add", str(set_id), uri, "0", str(priority),
                   "--no-reload")  # fmt: skip
        assert r.exit_code == 0, r.stderr


def uri(port: int) -> str:
    return f"sip:127.0.0.1:{port}"


def states(proxy, set_id: int = 1) -> dict[str, str]:
    return proxy.call(lambda: {d.uri: d.flags for d in proxy.server.dispatcher.sets()[set_id]})


def callee_ports(proxy) -> list[int]:
    """The destination port of each dialog, oldest first (ended ones stay listed a while)."""
    dialogs = proxy.call(lambda: proxy.server.dialogs.dialogs())
    return [d.callee.addr[2] for d in dialogs if d.callee.addr]


def call_ok(proxy, scenario: str = "uac_call.xml", callee: str = "9001") -> None:
    res = harness.call(proxy.port, scenario, callee=callee)
    assert res.returncode == 0, explain(res)


@pytest.fixture
def two(proxy_db):
    """Two free destination ports, seeded into set 1 (the first with the higher priority)."""
    a, b = free_port(), free_port()
    seed(proxy_db, (uri(a), 10), (uri(b), 5))
    return a, b


def cdr_methods(db_file: str, table: str) -> list[str]:
    conn = sqlite3.connect(db_file)
    try:
        return [row[0] for row in conn.execute(f"SELECT method FROM {table} ORDER BY id")]
    finally:
        conn.close()


def test_round_robin_alternates_and_tracks_outbound_dialogs(start_proxy, two, proxy_db):
    need("sipp")
    a, b = two
    proxy = start_proxy(ds_ping_interval=0)
    uas = [sipp_uas("uas_answer.xml", a, calls=2), sipp_uas("uas_answer.xml", b, calls=2)]
    try:
        for _ in range(4):
            call_ok(proxy)
        assert [p.wait(20) for p in uas] == [0, 0]  # each took its two calls
    finally:
        for p in uas:
            stop(p)
    assert callee_ports(proxy) == [a, b, a, b]
    dialogs = proxy.call(lambda: proxy.server.dialogs.dialogs())
    assert dialogs[0].profiles == [{"caller": "1001"}, "outbound"]
    assert all(d.ended_by == "bye" for d in dialogs)
    assert states(proxy) == {uri(a): "AX", uri(b): "AX"}
    # accounted as the cfg flags them: FLT_ACC on every INVITE (and the BYEs), never missed
    db_file = proxy_db.removeprefix("sqlite:///")
    assert wait_for(lambda: cdr_methods(db_file, "acc") == ["INVITE", "BYE"] * 4)
    assert cdr_methods(db_file, "missed_calls") == []


def test_500_fails_over_to_the_next_and_marks_the_destination_inactive(start_proxy, two):
    need("sipp")
    a, b = two
    rpc_port = free_port()
    proxy = start_proxy(ds_ping_interval=0, rpc_listen=f"127.0.0.1:{rpc_port}",
                        rpc_runtime_dir=None)  # fmt: skip
    failing = sipp_uas("uas_500.xml", a, calls=1)
    answering = sipp_uas("uas_answer.xml", b, calls=2)
    try:
        call_ok(proxy)  # A: 500, ACKed; then B answers
        assert failing.wait(20) == 0
        call_ok(proxy)  # A is inactive now: straight to B
        assert answering.wait(20) == 0
    finally:
        stop(failing)
        stop(answering)
    assert callee_ports(proxy) == [b, b]
    assert states(proxy) == {uri(a): "IP", uri(b): "AX"}
    # the same state over JSON-RPC (CLI), and in /metrics
    rpc = f"http://127.0.0.1:{rpc_port}/RPC"
    listed = invoke("--rpc", rpc, "--json", "dispatcher", "list")
    assert listed.exit_code == 0, listed.stderr
    rows = {r["uri"]: (r["state"], r["probing"]) for r in listed.json()}
    assert rows == {uri(a): ("inactive", True), uri(b): ("active", False)}
    metrics = httpx.get(f"http://127.0.0.1:{rpc_port}/metrics", timeout=5).text
    target = "kamailio_dispatcher_list_target"
    assert f'{target}{{destination="{uri(a)}",flags="IP",setid="1"}} 0.0' in metrics
    assert f'{target}{{destination="{uri(b)}",flags="AX",setid="1"}} 1.0' in metrics
    # set-state back to active (CLI words), then reload restores the table's flags anyway
    assert invoke("--rpc", rpc, "dispatcher", "set-state", "active", "1", uri(a)).exit_code == 0
    assert states(proxy)[uri(a)] == "AX"
    assert invoke("--rpc", rpc, "dispatcher", "set-state", "ip", "1", uri(a)).exit_code == 0
    assert invoke("--rpc", rpc, "dispatcher", "reload").exit_code == 0
    assert states(proxy) == {uri(a): "AX", uri(b): "AX"}
    missing = invoke("--rpc", rpc, "dispatcher", "set-state", "active", "1", "sip:10.9.9.9")
    assert missing.exit_code == 3
    # probing switched off and on with the CLI
    shown = invoke("--rpc", rpc, "--json", "dispatcher", "ping-active")
    assert shown.json() == {"ok": True, "active": True, "was": True}
    assert invoke("--rpc", rpc, "dispatcher", "ping-active", "off").exit_code == 0
    assert proxy.call(lambda: proxy.server.dispatcher.ping_active) is False
    assert invoke("--rpc", rpc, "--json", "dispatcher", "ping-active").json()["active"] is False
    assert invoke("--rpc", rpc, "dispatcher", "ping-active", "maybe").exit_code == 2


def test_a_silent_destination_times_out_and_the_call_fails_over(start_proxy, proxy_db):
    need("sipp")
    silent = UdpPeer()
    b = free_port()
    seed(proxy_db, (silent.uri, 10), (uri(b), 5))
    proxy = start_proxy(ds_ping_interval=0, fr_timer=1.0)
    answering = sipp_uas("uas_answer.xml", b, calls=1)
    try:
        call_ok(proxy)
        assert answering.wait(20) == 0
    finally:
        stop(answering)
        silent.close()
    invites = silent.requests("INVITE")
    assert invites and {i.call_id for i in invites} == {invites[0].call_id}  # retransmissions
    assert not silent.requests("CANCEL")  # nothing to cancel without a provisional
    assert states(proxy) == {silent.uri: "IP", uri(b): "AX"}
    assert callee_ports(proxy) == [b]


def test_a_cancelled_call_is_not_retried(start_proxy, proxy_db):
    need("sipp")
    a = free_port()
    other = UdpPeer({"INVITE": 200})
    seed(proxy_db, (uri(a), 10), (other.uri, 5))
    proxy = start_proxy(ds_ping_interval=0)
    ringing = sipp_uas("uas_ring.xml", a, calls=1)
    try:
        call_ok(proxy, "uac_cancel.xml")
        assert ringing.wait(20) == 0
    finally:
        stop(ringing)
        other.close()
    assert other.received == []
    assert states(proxy) == {uri(a): "AX", other.uri: "AX"}


def test_disabled_destinations_and_no_destination(start_proxy, two, proxy_db):
    need("sipp")
    a, b = two
    rpc_port = free_port()
    proxy = start_proxy(ds_ping_interval=0, rpc_listen=f"127.0.0.1:{rpc_port}",
                        rpc_runtime_dir=None)  # fmt: skip
    rpc = f"http://127.0.0.1:{rpc_port}/RPC"
    assert invoke("--rpc", rpc, "dispatcher", "set-state", "disabled", "1", uri(a)).exit_code == 0
    answering = sipp_uas("uas_answer.xml", b, calls=2)
    try:
        call_ok(proxy)
        call_ok(proxy)
        assert answering.wait(20) == 0
    finally:
        stop(answering)
    assert callee_ports(proxy) == [b, b]
    assert states(proxy) == {uri(a): "DX", uri(b): "AX"}
    assert invoke("--rpc", rpc, "dispatcher", "set-state", "i", "1", uri(b)).exit_code == 0
    client = harness.UdpClient(proxy.port)
    try:
        target = f"sip:9001@127.0.0.1:{proxy.port}"
        resp = invite(client, target)
        assert (resp.status, resp.reason) == (404, "No destination")
        # not a 9xxx user: the location route as before
        assert invite(client, f"sip:8001@127.0.0.1:{proxy.port}").reason == "Not Found"
    finally:
        client.close()


def invite(client, target: str):
    """INVITE from 1001 with digest credentials (407 answered); the final response."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    call_id = f"inv-{client.port}-{target}"
    first = client.ask("INVITE", target, call_id=call_id, cseq=1)
    if first.status != 407:
        return first
    ch = parse_challenge(first.headers.get("proxy-authenticate"))
    creds = answer_challenge(ch, cnonce="0a4f113b", method="INVITE", uri=target, username="1001",
                             password=harness.USERS["1001"])  # fmt: skip
    return client.ask("INVITE", target, call_id=call_id, cseq=2,
                      headers=[f"Proxy-Authorization: {creds.to_header()}"])  # fmt: skip


def test_probing_marks_a_dead_destination_and_brings_it_back(start_proxy, proxy_db):
    need("sipp")
    a = free_port()  # nobody listens there yet
    b = UdpPeer({"OPTIONS": 200})
    seed(proxy_db, (uri(a), 10), (b.uri, 5))
    # fr_timer 2 s: short enough for a quick "dead" verdict on the silent port, long enough
    # that SIPp's answer to the call on a loaded 2-core machine is never taken for a timeout
    proxy = start_proxy(ds_ping_interval=0.3, fr_timer=2, ds_ping_from="sip:prober@kamtool.test")
    try:
        assert wait_for(lambda: states(proxy)[uri(a)] == "IP", 10), states(proxy)
        assert wait_for(lambda: states(proxy)[b.uri] == "AP", 10), states(proxy)
        uas = sipp_uas("uas_answer.xml", a)  # now it answers OPTIONS (SIPp -aa)
        try:
            assert wait_for(lambda: states(proxy)[uri(a)] == "AP", 10), states(proxy)
            call_ok(proxy)  # and takes calls again (round-robin starts at the first)
        finally:
            stop(uas)
        assert callee_ports(proxy) == [a]
        probes = b.requests("OPTIONS")
    finally:
        b.close()
    p = probes[0]
    assert str(p.uri) == b.uri and str(p.to.uri) == b.uri
    assert str(p.from_.uri) == "sip:prober@kamtool.test" and p.from_tag
    assert (p.cseq.num, p.cseq.method) == (10, "OPTIONS")
    assert p.max_forwards == 70 and p.top_via.port == proxy.port
    assert len({x.call_id for x in probes}) == len(probes)  # a new transaction each time
    # probing off (dispatcher.ping_active 0): no more probes
    proxy.call(lambda: setattr(proxy.server.dispatcher, "ping_active", False))
    assert proxy.call(lambda: proxy.server.dispatcher.probe_now()) == 0


def test_probe_replies_count_as_kamailio_counts_them(start_proxy, proxy_db):
    """The replies to the proxy's own OPTIONS probes stop at the proxy: never in
    core:fwd_replies (stateless forwarding only), and, as in Kamailio's capture
    (stats.fetch.all.json: 15 OPTIONS 2xx, rpl_received = rpl_relayed, rpl_absorbed 0),
    each final reply of a probe is received and "relayed" by tm, 2xx or not."""
    up, picky = UdpPeer({"OPTIONS": 200}), UdpPeer({"OPTIONS": 404})
    seed(proxy_db, (up.uri, 10), (picky.uri, 5))
    proxy = start_proxy(ds_ping_interval=0.2)
    names = ["core:rcv_replies", "core:fwd_replies", "tmx:rpl_received", "tmx:rpl_relayed",
             "tmx:rpl_absorbed", "tmx:UAC_transactions"]  # fmt: skip

    def snapshot() -> dict[str, int]:
        stats = proxy.server.stats
        return {n: stats.value(*n.split(":")) for n in names}

    try:
        assert wait_for(lambda: proxy.call(snapshot)["core:rcv_replies"] >= 6, 10)
    finally:
        up.close()
        picky.close()
    got = proxy.call(snapshot)
    assert got["core:fwd_replies"] == 0
    assert got["tmx:rpl_received"] == got["tmx:rpl_relayed"] == got["core:rcv_replies"]
    assert got["tmx:rpl_absorbed"] == 0
    assert got["tmx:UAC_transactions"] >= got["tmx:rpl_relayed"]


def test_first_by_priority_algorithm_sends_every_call_to_the_first(start_proxy, two):
    need("sipp")
    a, b = two
    proxy = start_proxy(ds_ping_interval=0, dispatch_alg=8)
    first = sipp_uas("uas_answer.xml", a, calls=2)
    try:
        call_ok(proxy, callee="90")
        call_ok(proxy, callee="912345")
        assert first.wait(20) == 0
    finally:
        stop(first)
    assert callee_ports(proxy) == [a, a]
