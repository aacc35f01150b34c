"""HEP for SIP over WebSocket: ``kamtool trace`` against ``kamtool serve`` with a ``ws:``
listener sees what comes in on a WebSocket and what goes out on it, replies (the
REGISTER's 200) and requests (a MESSAGE relayed from a UDP phone to the browser's
connection) alike, each once."""

from __future__ import annotations

import socket

import pytest
from websockets.sync.client import connect

from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.trace.support import Trace

pytestmark = pytest.mark.slow


def _register(port: int, host: str, cport: int) -> str:
    return (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/WS {host}:{cport};branch=z9hG4bK-wsreg;rport\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=ws1\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: ws-reg-{cport}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:1001@{host}:{cport};transport=ws>;expires=300\r\n"
        f"Content-Length: 0\r\n\r\n"
    )


def _message(port: int, lport: int) -> bytes:
    return (
        f"MESSAGE sip:1001@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-udpmsg;rport\r\n"
        f"From: <sip:1002@127.0.0.1>;tag=u1\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: ws-msg-{lport}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    ).encode()


def _reply_200(request: str) -> str:
    head = request.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in
            ("via", "from", "call-id", "cseq")]  # fmt: skip
    to = next(h for h in head if h.lower().startswith("to:"))
    return "\r\n".join(["SIP/2.0 200 OK", *keep, to + ";tag=b1", "Content-Length: 0", "", ""])


def test_trace_shows_messages_sent_and_received_on_a_websocket(tmp_path):
    ws_port, trace_port = free_port(), free_port()
    proxy = KamtoolProxy(tmp_path, extra_args=("--listen", f"ws:127.0.0.1:{ws_port}",
                                               "--no-auth", "--no-pike"))  # fmt: skip
    with proxy:
        trace = Trace(tmp_path / "home", "--listen", f"udp:127.0.0.1:{trace_port}",
                      rpc=proxy.rpc_http_url)  # fmt: skip
        with connect(f"ws://127.0.0.1:{ws_port}/", subprotocols=["sip"]) as ws, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:  # fmt: skip
            host, cport = ws.local_address[:2]
            ws.send(_register(ws_port, host, cport))
            assert ws.recv(timeout=10).startswith("SIP/2.0 200")
            phone.bind(("127.0.0.1", 0))
            phone.settimeout(10)
            phone.sendto(_message(proxy.sip_port, phone.getsockname()[1]),
                         ("127.0.0.1", proxy.sip_port))  # fmt: skip
            relayed = ws.recv(timeout=10)
            assert relayed.startswith("MESSAGE sip:1001@"), relayed
            ws.send(_reply_200(relayed))
            while True:  # a 100 Trying may come first
                answer = phone.recv(65535).decode()
                if not answer.startswith("SIP/2.0 1"):
                    break
            assert answer.startswith("SIP/2.0 200"), answer
        shown = trace.stop()
    browser, edge = f"{host}:{cport}", f"127.0.0.1:{ws_port}"
    on_ws = sorted(
        (m["first_line"].split(" ")[0] if m["status"] is None else str(m["status"]),
         m["src"], m["dst"])
        for m in shown
        if browser in (m["src"], m["dst"])
    )  # fmt: skip
    assert on_ws == sorted([
        ("REGISTER", browser, edge),
        ("200", edge, browser),  # the REGISTER's reply, sent on the WebSocket
        ("MESSAGE", edge, browser),  # a request sent on the WebSocket
        ("200", browser, edge),
    ]), shown  # fmt: skip
    # HEP has no number for WebSocket: its messages go as kamtool marks TLS (22), both ways
    assert len({m["proto"] for m in shown if browser in (m["src"], m["dst"])}) == 1
