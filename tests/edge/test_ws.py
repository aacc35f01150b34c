"""SIP over WebSocket (RFC 7118) with a real client: the ``websockets`` library."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from kamtool.proxy.ws import WsPolicy, WsRegistry, serve_ws
from kamtool.sip import parse_message
from kamtool.sip.errors import ParseError
from kamtool.sip.message import make_response
from tests.support.require import unavailable

ORIGIN = "https://phone.example.test"

OPTIONS = (
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKws{n}\r\n"
    "From: <sip:alice@127.0.0.1>;tag=a{n}\r\nTo: <sip:127.0.0.1>\r\n"
    "Call-ID: ws-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
    "Subject: {pad}\r\nContent-Length: 0\r\n\r\n"
)


def options(n: int, pad: str = "x") -> str:
    return OPTIONS.format(n=n, pad=pad)


def sink(received: list):
    """A core that answers each request with 200 (400 for a bad one) on its connection."""

    def handle(msg, conn, addr):
        received.append((msg, conn.proto, addr))
        if isinstance(msg, ParseError):
            conn.send(b"SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.send(make_response(msg, 200, to_tag="ws").to_bytes())

    return handle


async def _server(policy=WsPolicy(), ssl_context=None):
    received: list = []
    reg = WsRegistry()
    server = await serve_ws(
        "127.0.0.1", 0, sink(received), policy=policy, registry=reg, ssl_context=ssl_context
    )
    port = server.sockets[0].getsockname()[1]
    return server, port, reg, received


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 30))


def test_register_flow_with_origin_and_subprotocol():
    async def go():
        server, port, reg, received = await _server(WsPolicy(origins=(ORIGIN,)))
        async with server:
            async with connect(
                f"ws://127.0.0.1:{port}/", subprotocols=["sip"], origin=ORIGIN
            ) as ws:
                assert ws.subprotocol == "sip"
                await ws.send(options(1))
                answer = parse_message((await ws.recv()).encode())
                assert answer.status == 200 and answer.call_id == "ws-1"
                msg, proto, addr = received[0]
                assert proto == "ws" and msg.method == "OPTIONS"
                assert addr == ws.local_address[:2]
                [row] = reg.dump()
                assert row["origin"] == ORIGIN and row["src"] == f"{addr[0]}:{addr[1]}"
            await asyncio.sleep(0.2)
            assert reg.dump() == []  # the closed connection is forgotten

    run(go())


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"subprotocols": ["sip"], "origin": "https://evil.example.test"}, 403),
        ({"subprotocols": ["sip"]}, 403),  # no Origin while a list is set
        ({"origin": ORIGIN}, 400),  # no subprotocol
        ({"subprotocols": ["msrp"], "origin": ORIGIN}, 400),
    ],
)
def test_upgrade_refused(kwargs, status):
    async def go():
        server, port, reg, received = await _server(WsPolicy(origins=(ORIGIN,)))
        async with server:
            with pytest.raises(InvalidStatus) as err:
                async with connect(f"ws://127.0.0.1:{port}/", **kwargs):
                    pass
            assert err.value.response.status_code == status
            assert reg.dump() == [] and received == []

    run(go())


def test_plain_http_and_bad_version_get_http_errors():
    async def go():
        server, port, reg, _ = await _server()
        async with server:
            for head, status in (
                (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
                (
                    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
                    b"Sec-WebSocket-Protocol: sip\r\n\r\n",
                    b"426",
                ),
            ):
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(head)
                data = await r.read()
                w.close()
                assert data.split(b" ")[1] == status
            assert reg.dump() == []

    run(go())


def test_odd_upgrades_get_an_http_answer_and_no_traceback(caplog):
    """Found by a fuzz audit: "SIP" in capitals passed our check and then broke wsproto's
    (no answer at all); a byte that is not ASCII in an upgrade header escaped as a
    UnicodeDecodeError; both closed the socket with a traceback."""
    upgrade = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade%s\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: %s\r\n\r\n"
    )

    async def go():
        server, port, reg, _ = await _server()
        async with server:
            for extra, protocol, status in ((b"", b"x, SIP", b"101"), (b", \xa9", b"sip", b"400")):
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(upgrade % (extra, protocol))
                head = await r.readuntil(b"\r\n\r\n")
                w.close()
                assert head.split(b" ")[1] == status, head
                if status == b"101":
                    assert b"Sec-WebSocket-Protocol: SIP\r\n" in head

    run(go())
    assert "Traceback" not in caplog.text and "Fatal error" not in caplog.text


def test_a_ping_after_an_oversized_message_in_the_same_read_is_not_answered(caplog):
    """We close on the oversized message; the Ping that came in the same read must not
    be answered on the closing connection (wsproto raised, with a traceback)."""
    import base64
    import os

    def frame(opcode: int, payload: bytes) -> bytes:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        head += bytes([0x80 | n]) if n < 126 else (
            bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536
            else bytes([0x80 | 127]) + n.to_bytes(8, "big"))  # fmt: skip
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    async def go():
        server, port, reg, received = await _server(WsPolicy(max_message=4096))
        async with server:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16))
            w.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
            await r.readuntil(b"\r\n\r\n")
            w.write(frame(1, b"A" * 5000) + frame(9, b"hi"))
            rest = await r.read()  # our close frame (1009), then the end
            w.close()
            assert rest[:1] == b"\x88" and rest[2:4] == (1009).to_bytes(2, "big"), rest[:8]
            assert received == []

    run(go())
    assert "Traceback" not in caplog.text and "Fatal error" not in caplog.text


def test_fragments_ping_pong_and_close():
    async def go():
        server, port, reg, received = await _server()
        async with server:
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]) as ws:
                text = options(2, pad="y" * 3000)
                # one SIP message in five fragments, then a binary one
                await ws.send([text[i : i + 700] for i in range(0, len(text), 700)])
                assert parse_message((await ws.recv()).encode()).call_id == "ws-2"
                await ws.send(options(3).encode())
                assert parse_message((await ws.recv()).encode()).call_id == "ws-3"
                assert [m.call_id for m, _, _ in received] == ["ws-2", "ws-3"]
                assert len(received[0][0].headers.get("Subject")) == 3000
                # ping from the client, pong from the server
                latency = await (await ws.ping(b"hello"))
                assert latency >= 0
                # garbage is answered, not fatal
                await ws.send("NOT SIP AT ALL\r\n\r\n")
                assert (await ws.recv()).startswith("SIP/2.0 400")
                # the server pings (keepalive); the client's pong needs no help
                assert reg.ping_all() == 1
                await ws.send(options(4))
                assert parse_message((await ws.recv()).encode()).call_id == "ws-4"
            assert ws.close_code == 1000
            await asyncio.sleep(0.2)
            assert reg.dump() == []

    run(go())


def test_oversized_message_and_admin_close():
    async def go():
        server, port, reg, received = await _server(WsPolicy(max_message=4096))
        async with server:
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]) as ws:
                await ws.send(options(5, pad="z" * 5000))
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1009 and received == []
            async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]) as ws:
                await ws.send(options(6))
                await ws.recv()
                [row] = reg.dump()
                assert reg.close(row["id"]) and not reg.close(row["id"] + 100)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1000

    run(go())


def test_secure_websocket(tmp_path):
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context(cafile=str(crt))

    async def go():
        server, port, reg, received = await _server(ssl_context=server_ctx)
        async with (
            server,
            connect(f"wss://127.0.0.1:{port}/", subprotocols=["sip"], ssl=client_ctx) as ws,
        ):
            await ws.send(options(7))
            assert parse_message((await ws.recv()).encode()).status == 200
            assert received[0][1] == "wss" and reg.dump()[0]["proto"] == "wss"

    run(go())


def test_ws_rpcs_and_statistics():
    from kamtool.rpc.methods import Registry, RpcFault
    from kamtool.rpc.methods import ws as ws_methods

    async def go():
        server, port, reg, _ = await _server(WsPolicy(origins=(ORIGIN,)))
        rpc = Registry()
        ws_methods.register(rpc, reg)
        async with server:
            with pytest.raises(InvalidStatus):
                async with connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]):
                    pass
            async with connect(
                f"ws://127.0.0.1:{port}/", subprotocols=["sip"], origin=ORIGIN
            ) as ws:
                await ws.send(options(8))
                await ws.recv()
                out = await rpc.call("ws.dump", [])
                [line] = out["connections"]
                host, cport = ws.local_address[:2]
                assert line.startswith(f"1: ws:{host}:{cport} -> ws:127.0.0.1:{port} (state: OPEN")
                assert line.endswith("sub-protocol: sip)")
                assert out["info"] == {"wscounter": 1, "truncated": "no"}
                assert (await rpc.call("ws.dump", ["used_desc"]))["connections"] == [line]
                with pytest.raises(RpcFault, match="Bad display order parameter"):
                    await rpc.call("ws.dump", ["sideways"])
                await rpc.call("ws.ping", [1])
                assert "awaiting Pong" in (await rpc.call("ws.dump", []))["connections"][0]
                await ws.send(options(9))  # the client's Pong went before this
                await ws.recv()
                assert "awaiting Pong" not in (await rpc.call("ws.dump", []))["connections"][0]
                await rpc.call("ws.pong", [1])
                for method in ("ws.close", "ws.ping", "ws.pong"):
                    with pytest.raises(RpcFault, match="Unknown connection ID"):
                        await rpc.call(method, [42])
                    with pytest.raises(RpcFault, match="Invalid Parameters"):
                        await rpc.call(method, [])
                assert await rpc.call("ws.close", [1]) is None
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1000
            await asyncio.sleep(0.2)
            assert reg.stats == {
                "ws_current_connections": 0,
                "ws_max_concurrent_connections": 1,
                "ws_successful_handshakes": 1,
                "ws_failed_handshakes": 1,
                "ws_local_closed_connections": 1,
                "ws_remote_closed_connections": 0,
                "ws_received_frames": 2,
                "ws_transmitted_frames": 2,
            }

    run(go())


def test_keepalive_closes_a_silent_peer():
    """A peer that never answers Pings (a raw socket after the upgrade) is closed after
    one unanswered keepalive round; a live client is only pinged."""

    async def go():
        server, port, reg, _ = await _server()
        async with server, connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Protocol: sip\r\n\r\n"
            )
            assert b" 101 " in await r.readuntil(b"\r\n\r\n")
            assert len(reg.by_id) == 2
            now = max(c.last_active for c in reg.by_id.values()) + 100
            assert reg.keepalive(now, idle=30) == (2, 0)
            await asyncio.sleep(0.3)  # the websockets client answers its Ping
            assert reg.keepalive(now + 100, idle=30) == (1, 1)
            assert await r.read() != b""  # the silent one got a Close frame, then EOF
            w.close()
            await asyncio.sleep(0.2)
            assert len(reg.by_id) == 1

    run(go())
