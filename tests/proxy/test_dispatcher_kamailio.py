"""kamtool's dispatcher next to a real Kamailio 5.6 running the reference cfg, both with the
same dispatcher rows and their own UDP peers as destinations: the order calls take
(round-robin), dispatcher.list after a failover (and the order of the sets), the OPTIONS
probe each sends, the Call-ID hash and the RPC answers for bad states."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.proxy import harness
from tests.proxy.conftest import need
from tests.proxy.harness import explain, wait_for
from tests.proxy.peers import UdpPeer
from tests.support.cli import invoke
from tests.support.ports import free_port

pytestmark = [pytest.mark.kamailio, pytest.mark.sipp]


def rows_for(peers: list[UdpPeer]) -> list[tuple[int, str, int, int]]:
    """The same table for both servers: set 1 = the two peers (priorities 10 and 5); sets 3
    and 2 with fixed unreachable URIs to compare the set order and equal priorities."""
    a, b = peers
    return [
        (1, a.uri, 0, 10), (1, b.uri, 0, 5), (3, "sip:127.0.0.1:9", 0, 0),
        (2, "sip:127.0.0.1:7", 4, 0), (3, "sip:127.0.0.1:8", 4, 0),
    ]  # fmt: skip


def seed_kamailio(k, rows) -> None:
    conn = sqlite3.connect(k.db_file)
    try:
        conn.execute("DELETE FROM dispatcher")
        conn.executemany(
            "INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description)"
            " VALUES (?, ?, ?, ?, '', '')",
            rows,
        )
        conn.commit()
    finally:
        conn.close()
    k.rpc("dispatcher.reload")


def seed_kamtool(db_url: str, rows) -> None:
    for set_id, uri, flags, priority in rows:
        r = invoke("--db", db_url, "dispatcher", "add", str(set_id), uri, str(flags),
                   str(priority), "--no-reload")  # fmt: skip
        assert r.exit_code == 0, r.stderr


def rpc(url: str, method: str, *params):
    body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
    reply = httpx.post(url, json=body, timeout=10).json()
    return reply.get("result", reply.get("error"))


def labelled(listing: dict, peers: list[UdpPeer]) -> dict:
    """dispatcher.list with the peers' URIs replaced by A and B (ports differ per server)."""
    names = {p.uri: n for p, n in zip(peers, "AB", strict=True)}
    for record in listing["RECORDS"]:
        for target in record["SET"]["TARGETS"]:
            target["DEST"]["URI"] = names.get(target["DEST"]["URI"], target["DEST"]["URI"])
    return listing


def full_view(listing: dict, peers: list[UdpPeer]) -> list:
    """``dispatcher.list full`` without what differs by nature (the peers' ports, the
    resolution time): keys in order, host, address, transport id per destination."""
    view = []
    for record in labelled(listing, peers)["RECORDS"]:
        for target in record["SET"]["TARGETS"]:
            dest = target["DEST"]
            port = "peer" if dest["URI"] in "AB" else dest["PORT"]
            view.append((list(dest), dest["URI"], dest["HOST"], dest["IPADDR"], port,
                         dest["PROTOID"]))  # fmt: skip
    return view


def busy_call(port: int) -> None:
    res = harness.call(port, "uac_busy.xml", callee="9001")
    assert res.returncode == 0, explain(res)


def sequence(port: int, peers: list[UdpPeer], calls: int = 4) -> list[str]:
    """Call 9001 ``calls`` times through the server on ``port``; which peer (A or B) got
    each new INVITE. The caller's scenario ends with the peer's 486, so it has arrived."""
    got: list[str] = []
    seen: set[str] = set()
    for _ in range(calls):
        busy_call(port)
        new = [name for p, name in zip(peers, "AB", strict=True)
               for m in p.requests("INVITE") if m.call_id not in seen]  # fmt: skip
        assert new
        got.append(new[0])
        seen.update(m.call_id for p in peers for m in p.requests("INVITE"))
    return got


def test_dispatcher_against_kamailio(kamailio, start_proxy, proxy_db):
    need("sipp")
    k = kamailio
    kam_peers = [UdpPeer({"INVITE": 486}), UdpPeer({"INVITE": 486})]
    our_peers = [UdpPeer({"INVITE": 486}), UdpPeer({"INVITE": 486})]
    rpc_port = free_port()
    try:
        k.rpc("dispatcher.ping_active", 0)  # no probes while calls are compared
        seed_kamailio(k, rows_for(kam_peers))
        seed_kamtool(proxy_db, rows_for(our_peers))
        proxy = start_proxy(ds_ping_interval=0, rpc_listen=f"127.0.0.1:{rpc_port}",
                            rpc_runtime_dir=None)  # fmt: skip
        ours = f"http://127.0.0.1:{rpc_port}/RPC"

        # -- round-robin: one call at a time, the peer each one reached
        kam_order = sequence(k.sip_port, kam_peers)
        assert sequence(proxy.port, our_peers) == kam_order == ["A", "B", "A", "B"]

        # -- failover: A answers 500, B 486; A ends up inactive+probing on both
        for peers in (kam_peers, our_peers):
            peers[0].answers["INVITE"] = 500
        busy_call(k.sip_port)
        busy_call(proxy.port)
        kam_list = labelled(k.rpc("dispatcher.list"), kam_peers)
        our_list = labelled(rpc(ours, "dispatcher.list"), our_peers)
        assert our_list == kam_list
        flags = {t["DEST"]["URI"]: t["DEST"]["FLAGS"]
                 for r in our_list["RECORDS"] for t in r["SET"]["TARGETS"]}  # fmt: skip
        assert flags["A"] == "IP" and flags["B"] == "AX"
        # rows of sets 1, 3, 2 in that order: an AVL rooted at 2, printed in post-order
        assert [r["SET"]["ID"] for r in our_list["RECORDS"]] == [1, 3, 2]

        short = rpc(ours, "dispatcher.list", "short")
        assert labelled(short, our_peers) == labelled(k.rpc("dispatcher.list", "short"), kam_peers)
        assert full_view(rpc(ours, "dispatcher.list", "full"), our_peers) == full_view(
            k.rpc("dispatcher.list", "full"), kam_peers
        )

        # -- RPC answers Kamailio's dispatcher.c gives for states and ping_active
        for params in (["x", 1, "all"], ["ap", 99, "all"], ["a", 1, "sip:10.9.9.9"],
                       ["1", 1, kam_peers[1].uri]):  # fmt: skip
            ours_params = [p if p != kam_peers[1].uri else our_peers[1].uri for p in params]
            assert rpc(ours, "dispatcher.set_state", *ours_params) == rpc(
                k.rpc_http_url, "dispatcher.set_state", *params
            ), params
        assert rpc(ours, "dispatcher.ping_active", 0) == {"NewPingState": 0, "OldPingState": 1}
        assert rpc(ours, "dispatcher.ping_active") == rpc(k.rpc_http_url, "dispatcher.ping_active")

        # -- Kamailio's ds_get_hash (dispatcher.hash) is ours
        from kamtool.proxy.dispatcher import call_id_hash

        for text in ("1-12442@127.0.0.1", "a84b4c76e66710@pc33.atlanta.com", "xyz", "é-ü"):
            assert call_id_hash(text) == k.rpc("dispatcher.hash", 0, text)["hashid"], text

        # -- the OPTIONS probe: Kamailio's timer (every 10 s) against one round of ours
        k.rpc("dispatcher.ping_active", 1)
        rpc(ours, "dispatcher.ping_active", 1)
        assert wait_for(lambda: kam_peers[1].requests("OPTIONS"), 25)
        proxy.call(lambda: proxy.server.dispatcher.probe_now())
        assert wait_for(lambda: our_peers[1].requests("OPTIONS"), 10)
        kp, op = kam_peers[1].requests("OPTIONS")[0], our_peers[1].requests("OPTIONS")[0]
    finally:
        for p in kam_peers + our_peers:
            p.close()
    for probe, peer in ((kp, kam_peers[1]), (op, our_peers[1])):
        assert (probe.method, str(probe.uri), str(probe.to.uri)) == ("OPTIONS", peer.uri, peer.uri)
        assert probe.to_tag is None and probe.from_tag
    names = op.headers.keys()
    assert names == [n for n in kp.headers.keys() if n != "user-agent"]  # noqa: SIM118
    for probe in (kp, op):
        assert str(probe.from_.uri) == "sip:dispatcher@localhost"
        assert (probe.cseq.num, probe.cseq.method, probe.max_forwards) == (10, "OPTIONS", 70)
        assert probe.top_via.transport == "UDP" and probe.top_via.branch.startswith("z9hG4bK")
        assert probe.body == b""
