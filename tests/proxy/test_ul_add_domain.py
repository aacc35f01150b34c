"""``ul.add`` with ``user@domain`` under usrloc use_domain 0: Kamailio files the contact
under the user alone, so calls to that user reach it (kamtool kept the domain: 404)."""

from __future__ import annotations

import httpx

from tests.proxy.harness import UdpClient
from tests.proxy.peers import UdpPeer
from tests.support.ports import free_port

ALL_METHODS = 4294967295


def test_ul_add_with_a_domain_is_reachable_by_user(start_proxy, tmp_path):
    rpc_port = free_port()
    proxy = start_proxy(rpc_listen=f"127.0.0.1:{rpc_port}", rpc_runtime_dir=str(tmp_path / "rt"))

    def rpc(method, *params):
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        return httpx.post(f"http://127.0.0.1:{rpc_port}/RPC", json=body, timeout=10).json()

    phone = UdpPeer({"MESSAGE": 200})
    caller = UdpClient(proxy.port)
    try:
        contact = f"sip:1004@127.0.0.1:{phone.port}"
        added = rpc("ul.add", "location", "1004@127.0.0.1", contact, 0, 1.0, ".", 0, 0,
                    ALL_METHODS)  # fmt: skip
        assert added["result"] == {}
        # stored under "1004", as REGISTER with use_domain 0 stores it ...
        assert proxy.call(lambda: proxy.server.usrloc.aors()) == ["1004"]
        # ... and the other ul.* take the same AoR with or without the domain
        found = rpc("ul.lookup", "location", "1004@127.0.0.1")["result"]
        assert found["AoR"] == "1004"
        assert [c["Contact"]["Address"] for c in found["Contacts"]] == [contact]
        # an outside caller (no auth needed towards a local user) reaches the contact
        raw = caller.request("MESSAGE", "sip:1004@127.0.0.1", body="hi")
        raw = raw.replace(b"<sip:1001@127.0.0.1>", b"<sip:bob@example.org>", 1)
        caller.send_raw(raw)
        answer = caller.recv()
        while answer.status == 100:
            answer = caller.recv()
        assert answer.status == 200
        (delivered,) = phone.requests("MESSAGE")
        assert str(delivered.uri) == contact
        assert rpc("ul.rm", "location", "1004@127.0.0.1")["result"] == {}
        assert proxy.call(lambda: proxy.server.usrloc.lookup("1004")) == []
    finally:
        caller.close()
        phone.close()
