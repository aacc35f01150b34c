"""The FIFO and unix datagram transports, as jsonrpcs offers them, on real files."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import uuid
from pathlib import Path

from kamtool.proxy.usrloc import Binding
from tests.rpcserver.conftest import ServerThread

VERSION = {"jsonrpc": "2.0", "method": "core.version", "id": 1}


def fifo_call(rpc: ServerThread, reply_dir: Path, raw: bytes | dict, timeout: float = 10.0):
    """Write ``raw`` (a request with reply_name, or bytes) and read the reply FIFO."""
    name = f"reply_{uuid.uuid4().hex[:8]}"
    path = reply_dir / name
    os.mkfifo(path, 0o600)
    if isinstance(raw, dict):
        raw = json.dumps({**raw, "reply_name": name}).encode()
    got: list[bytes] = []

    def read() -> None:
        fd = os.open(path, os.O_RDONLY)  # blocks until the server opens it for writing
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        os.close(fd)
        got.append(b"".join(chunks))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, raw)
    os.close(fd)
    reader.join(timeout)
    if reader.is_alive():  # no reply: unblock the reader ourselves
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(1)
        path.unlink()
        return None
    path.unlink()
    return got[0]


def dgram_call(rpc: ServerThread, tmp_path: Path, raw: bytes, timeout: float = 10.0):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = tmp_path / f"c{uuid.uuid4().hex[:6]}.sock"
    client.bind(str(addr))
    client.settimeout(timeout)
    try:
        client.sendto(raw, str(rpc.server.dgram_path))
        return client.recv(64 * 1024 * 1024)
    except TimeoutError:
        return None
    finally:
        client.close()
        addr.unlink()


def test_runtime_files_are_owner_only(rpc: ServerThread) -> None:
    runtime = rpc.server.runtime_dir
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert stat.S_ISFIFO(rpc.server.fifo_path.stat().st_mode)
    assert stat.S_IMODE(rpc.server.fifo_path.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(rpc.server.dgram_path.stat().st_mode)
    assert stat.S_IMODE(rpc.server.dgram_path.stat().st_mode) == 0o600


def test_fifo_request_and_errors(rpc: ServerThread, tmp_path: Path) -> None:
    raw = fifo_call(rpc, tmp_path, VERSION)
    assert raw.startswith(b'{\n\t"jsonrpc":\t"2.0",\n\t"result":\t"kamtool ')
    bad = fifo_call(rpc, tmp_path, {"jsonrpc": "2.0", "method": "no.such_method", "id": 1})
    assert json.loads(bad)["error"] == {"code": 500, "message": "Method Not Found"}
    # malformed JSON still answered when the reply_name can be read
    name_holder = b'{"jsonrpc": "2.0", "method": core.version, "reply_name": "%s", "id": 1}\n'
    name = f"reply_{uuid.uuid4().hex[:8]}"
    os.mkfifo(tmp_path / name)
    result: list[bytes] = []
    t = threading.Thread(target=lambda: result.append((tmp_path / name).read_bytes()), daemon=True)
    t.start()
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY)
    os.write(fd, name_holder % name.encode())
    os.close(fd)
    t.join(10)
    assert json.loads(result[0])["error"]["code"] == -32700


def test_fifo_unbalanced_document_does_not_swallow_the_next(
    rpc: ServerThread, tmp_path: Path
) -> None:
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY)
    os.write(fd, b'{"jsonrpc": "2.0", "method": "core.version",\n')
    os.close(fd)
    raw = fifo_call(rpc, tmp_path, VERSION)
    assert json.loads(raw)["result"].startswith("kamtool")


def test_fifo_refuses_reply_paths_outside_reply_dir(rpc: ServerThread, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"victim_{uuid.uuid4().hex[:6]}"
    outside.write_text("keep")
    req = {**VERSION, "reply_name": f"../{outside.name}"}
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY)
    os.write(fd, json.dumps(req).encode())
    os.close(fd)
    # a following request is still served, and the file outside was not touched
    assert fifo_call(rpc, tmp_path, VERSION) is not None
    assert outside.read_text() == "keep"
    outside.unlink()


def test_dgram_request_errors_and_batch(rpc: ServerThread, tmp_path: Path) -> None:
    raw = dgram_call(rpc, tmp_path, json.dumps(VERSION).encode())
    assert json.loads(raw)["result"].startswith("kamtool")
    assert (
        json.loads(dgram_call(rpc, tmp_path, b'{"jsonrpc": "2.0", "method": '))["error"]["code"]
        == -32700
    )
    batch = [VERSION, {**VERSION, "id": 2}]
    assert [a["id"] for a in json.loads(dgram_call(rpc, tmp_path, json.dumps(batch).encode()))] == [
        1,
        2,
    ]


def test_large_reply_arrives_whole_over_dgram_and_fifo(
    rpc: ServerThread, state, tmp_path: Path
) -> None:
    def fill() -> None:
        for i in range(3000):
            aor = f"u{i:05d}"
            state.usrloc.records[aor] = [
                Binding(aor=aor, contact=f"sip:{aor}@10.0.{i // 250}.{i % 250}:5060", expires=0,
                        callid=f"{i}@x", ruid=f"r{i}", state="CS_SYNC")
            ]  # fmt: skip

    rpc.call(fill)
    req = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 5}).encode()
    raw = dgram_call(rpc, tmp_path, req, timeout=10)
    assert len(raw) > 1_000_000
    dump = json.loads(raw)["result"]["Domains"][0]["Domain"]
    assert dump["Stats"]["Records"] == 3003 and len(dump["AoRs"]) == 3003
    raw = fifo_call(rpc, tmp_path, {"jsonrpc": "2.0", "method": "ul.dump", "id": 6}, timeout=10)
    assert len(json.loads(raw)["result"]["Domains"][0]["Domain"]["AoRs"]) == 3003


def test_dgram_reply_larger_than_the_send_buffer_comes_in_chunks(tmp_path: Path, state) -> None:
    import asyncio

    from kamtool.rpc.server.dgram import DgramServer

    for i in range(300):
        state.usrloc.records[f"c{i}"] = [
            Binding(aor=f"c{i}", contact=f"sip:c{i}@h", expires=0, ruid=f"x{i}", state="CS_SYNC")
        ]
    server = DgramServer(state.registry(), tmp_path / "s.sock", send_buffer=32 * 1024)

    async def main() -> list[bytes]:
        await server.start()
        client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        client.bind(str(tmp_path / "c.sock"))
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        req = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1}).encode()
        await loop.sock_sendto(client, req, str(server.path))
        parts: list[bytes] = []
        while True:
            parts.append(await asyncio.wait_for(loop.sock_recv(client, 1 << 20), 10))
            try:
                json.loads(b"".join(parts))
                break
            except ValueError:
                continue
        client.close()
        await server.close()
        return parts

    parts = asyncio.run(main())
    assert len(parts) > 1 and all(len(p) <= server.chunk for p in parts)
    dump = json.loads(b"".join(parts))["result"]["Domains"][0]["Domain"]
    assert dump["Stats"]["Records"] == 303


def test_second_server_on_the_same_runtime_dir_keeps_http_only(
    rpc: ServerThread, tmp_path: Path, state
) -> None:
    from kamtool.rpc.server import RpcServer

    second = ServerThread(
        lambda: RpcServer(state.registry(), "127.0.0.1", 0, runtime_dir=rpc.server.runtime_dir)
    )
    try:
        assert second.server.fifo is None and second.server.dgram is None
    finally:
        second.stop()
    # the first server's endpoints survived the second one's start and stop
    assert json.loads(fifo_call(rpc, tmp_path, VERSION))["id"] == 1
    assert json.loads(dgram_call(rpc, tmp_path, json.dumps(VERSION).encode()))["id"] == 1


def test_stale_fifo_and_socket_are_replaced(tmp_path: Path, state) -> None:
    from kamtool.rpc.server import FIFO_NAME, SOCKET_NAME, RpcServer

    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    os.mkfifo(runtime / FIFO_NAME)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(runtime / SOCKET_NAME))
    stale.close()  # the file stays, nobody is bound any more
    srv = ServerThread(
        lambda: RpcServer(
            state.registry(), "127.0.0.1", 0, runtime_dir=runtime, fifo_reply_dir=tmp_path
        )
    )
    try:
        assert srv.server.fifo is not None and srv.server.dgram is not None
        assert json.loads(fifo_call(srv, tmp_path, VERSION))["id"] == 1
    finally:
        srv.stop()
    assert not (runtime / FIFO_NAME).exists() and not (runtime / SOCKET_NAME).exists()


def test_fifo_and_dgram_survive_garbage(rpc: ServerThread, tmp_path: Path) -> None:
    """Random bytes (quotes, braces, newlines included) never wedge either transport."""
    import random

    rnd = random.Random(4711)
    alphabet = b'{}[]"\\\n :,abc1\x00\xff'
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY)
    try:
        for _ in range(200):
            os.write(fd, bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 60))))
        os.write(fd, b"\n")
    finally:
        os.close(fd)
    assert json.loads(fifo_call(rpc, tmp_path, VERSION))["result"].startswith("kamtool")
    for _ in range(50):
        junk = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 80)))
        reply = dgram_call(rpc, tmp_path, junk)
        assert reply is None or "error" in json.loads(reply) or "result" in json.loads(reply)
    assert json.loads(dgram_call(rpc, tmp_path, json.dumps(VERSION).encode()))["id"] == 1


def test_fifo_broken_string_ends_at_the_newline(rpc: ServerThread, tmp_path: Path) -> None:
    fd = os.open(rpc.server.fifo_path, os.O_WRONLY)
    os.write(fd, b'{"jsonrpc": "2.0", "method": "core.version, "id": 1\n')  # unclosed string
    os.close(fd)
    # without the newline rule the next request would be read as part of that string
    assert json.loads(fifo_call(rpc, tmp_path, VERSION))["id"] == 1
