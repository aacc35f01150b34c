"""``KSR.websocket`` in a route script of ``kamtool serve`` with a ws: listener: a real
WebSocket client (``websockets``) asks, and the route closes its connection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port

SCRIPT = Path(__file__).resolve().parent / "scripts" / "ws_route.py"


def _request(method: str, port: int, n: int) -> str:
    return (
        f"{method} sip:1001@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK-ksrws-{n};rport\r\n"
        f"From: <sip:2001@127.0.0.1>;tag=ws{n}\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: ksr-ws-{n}-{port}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )


@pytest.fixture
def proxy(tmp_path):
    ws = free_port()
    p = KamtoolProxy(
        tmp_path, seed=False, extra_args=("--listen", f"ws:127.0.0.1:{ws}", "--route", str(SCRIPT))
    ).start()
    p.ws_port = ws
    yield p
    p.stop()


def test_route_sees_the_websocket_and_closes_it(proxy):
    url = f"ws://127.0.0.1:{proxy.ws_port}"
    with connect(url, subprotocols=["sip"], open_timeout=10) as conn:
        conn.send(_request("OPTIONS", proxy.ws_port, 1))
        answer = conn.recv(timeout=10)
        assert answer.startswith("SIP/2.0 200 websocket\r\n"), answer
        assert "websocket:ws_current_connections = 1" in proxy.rpc(
            "stats.get_statistics", "websocket:"
        )
        conn.send(_request("MESSAGE", proxy.ws_port, 2))
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert closed.value.rcvd.reason == "closed by the route"
    for _ in range(50):  # the proxy forgets it once the TCP connection is gone
        if proxy.rpc("ws.dump")["connections"] == []:
            break
        time.sleep(0.1)
    assert proxy.rpc("ws.dump")["connections"] == []
