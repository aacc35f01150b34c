"""kamtool's proxy with its RPC server on: a registration shows up in ul.*, stats.* and
/metrics, with the shapes of Kamailio's answers, and ul.* edits reach the proxy's store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.proxy.harness import RunningProxy, UdpClient, add_subscriber, make_config
from tests.rpcserver.captures import capture
from tests.rpcserver.shape import shape_diff
from tests.support.ports import free_port


def _metrics(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.fixture
def proxy_with_rpc(tmp_path: Path):
    url = "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    add_subscriber(url, "1001", "secret1001")
    port = free_port()
    proxy = RunningProxy(
        make_config(url, rpc_listen=f"127.0.0.1:{port}", rpc_runtime_dir=str(tmp_path / "run"))
    ).start()
    try:
        yield proxy, port
    finally:
        proxy.stop()


def test_registration_visible_over_rpc_and_metrics(proxy_with_rpc, tmp_path: Path) -> None:
    proxy, port = proxy_with_rpc
    base = f"http://127.0.0.1:{port}"

    def rpc(method: str, *params):
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        return httpx.post(f"{base}/RPC", json=body, timeout=5).json()

    before = _metrics(base)
    assert before["kamailio_usrloc_registered_users"] == 0
    ua = UdpClient(proxy.port)
    try:
        reply = ua.register("1001", "secret1001", [f"<sip:1001@127.0.0.1:{ua.port}>"])
        assert reply.status == 200
    finally:
        ua.close()

    found = rpc("ul.lookup", "location", "1001")["result"]
    assert found["Contacts"][0]["Contact"]["Address"] == f"sip:1001@127.0.0.1:{ua.port}"
    assert not shape_diff(found, capture("ul.lookup.location.1001")["result"])
    assert not shape_diff(rpc("ul.dump")["result"], capture("ul.dump")["result"])
    assert "registrar:accepted_regs = 1" in rpc("stats.get_statistics", "registrar:")["result"]

    after = _metrics(base)
    assert after["kamailio_usrloc_registered_users"] == 1
    assert after["kamailio_core_rcv_requests"] >= before["kamailio_core_rcv_requests"] + 2

    # edits through RPC reach the proxy's location store
    assert rpc("ul.add", "location", "1002", "sip:1002@127.0.0.1:5999", 600, 0.5, "", 0, 0,
               4294967295)["result"] == {}  # fmt: skip
    assert proxy.call(lambda: [b.contact for b in proxy.server.usrloc.lookup("1002")]) == [
        "sip:1002@127.0.0.1:5999"
    ]
    assert rpc("ul.rm", "location", "1001")["result"] == {}
    assert proxy.call(lambda: proxy.server.usrloc.lookup("1001")) == []
    # listed in the order calls fork in: highest q first (the 0.5 added first goes last)
    rpc("ul.add", "location", "1002", "sip:1002@127.0.0.1:5998", 600, 0.9, "", 0, 0, 4294967295)
    listed = [c["Contact"]["Address"]
              for c in rpc("ul.lookup", "location", "1002")["result"]["Contacts"]]  # fmt: skip
    assert listed == ["sip:1002@127.0.0.1:5998", "sip:1002@127.0.0.1:5999"]
    dumped = rpc("ul.dump")["result"]["Domains"][0]["Domain"]["AoRs"]
    info = next(a["Info"] for a in dumped if a["Info"]["AoR"] == "1002")
    assert [c["Contact"]["Address"] for c in info["Contacts"]] == listed

    # and the FIFO of the same server answers too
    fifo = tmp_path / "run" / "kamtool_rpc.fifo"
    assert fifo.exists()
    from kamtool.rpc.client import RpcClient

    with RpcClient(f"unix:{tmp_path / 'run' / 'kamtool_rpc.sock'}", timeout=5) as client:
        brief = client.call("ul.dump", "brief")["Domains"][0]["Domain"]["AoRs"]
    # 1001's empty record lasts until the usrloc timer runs (1 s here), as in Kamailio
    assert {"AoR": "1002"} in brief and len(brief) in (1, 2)


def test_dispatcher_permissions_and_domain_methods_on_the_running_proxy(tmp_path: Path) -> None:
    from tests.support.cli import invoke

    url = "sqlite:///" + str(tmp_path / "kamailio.sqlite")
    add_subscriber(url, "1001", "secret1001")
    for args in (
        ("dispatcher", "add", "1", "sip:127.0.0.1:5062", "0", "10", "weight=50"),
        ("dispatcher", "add", "2", "sip:127.0.0.1:5063", "2"),
        ("address", "add", "1", "10.0.0.10", "32", "5060", "gw"),
    ):
        assert invoke("--db", url, *args, "--no-reload").exit_code == 0
    port = free_port()
    proxy = RunningProxy(
        make_config(url, rpc_listen=f"127.0.0.1:{port}", rpc_runtime_dir=str(tmp_path / "run"))
    ).start()
    rpc_url = f"http://127.0.0.1:{port}/RPC"
    try:
        listed = invoke("--rpc", rpc_url, "--json", "dispatcher", "list")
        assert listed.exit_code == 0, listed.stderr
        states = {(d["set_id"], d["uri"]): d["flags"] for d in listed.json()}
        assert states == {(1, "sip:127.0.0.1:5062"): "AX", (2, "sip:127.0.0.1:5063"): "TX"}
        dumped = invoke("--rpc", rpc_url, "--json", "address", "dump")
        assert dumped.exit_code == 0, dumped.stderr
        assert "10.0.0.10" in dumped.stdout
        assert (
            "dispatcher.set_state"
            in httpx.post(
                rpc_url, json={"jsonrpc": "2.0", "method": "system.listMethods", "id": 1}, timeout=5
            ).json()["result"]
        )
        assert "kamailio_dispatcher" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proxy.stop()
