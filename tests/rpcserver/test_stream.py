"""kamjson.stream: the same bytes as kamjson.dumps, made and sent in pieces."""

from __future__ import annotations

import asyncio

from kamtool.rpc import kamjson
from kamtool.rpc.kamjson import LazyList, chunks_of


def _streamed(value) -> tuple[bytes, int]:
    pieces: list[bytes] = []

    async def write(data: bytes) -> None:
        pieces.append(data)

    asyncio.run(kamjson.stream(value, write))
    return b"".join(pieces), len(pieces)


def _contacts(n: int) -> list[dict]:
    return [{"Contact": {"Address": f"sip:u{i}@h", "Expires": i, "Q": 0.5, "P": None}}
            for i in range(n)]  # fmt: skip


def test_stream_prints_what_dumps_prints() -> None:
    items = _contacts(3000)
    lazy = LazyList(lambda: chunks_of(items, 7))
    for value in (
        {"Domains": [{"Domain": {"AoRs": lazy, "Stats": {"Records": 3000}}}]},
        {"a": LazyList(lambda: iter([[], [1], [], [2, 3]])), "b": {}, "c": []},
        {"empty": LazyList(lambda: iter([]))},
        [{"jsonrpc": "2.0", "result": {"x": lazy}, "id": 1}, {"jsonrpc": "2.0", "id": 2}],
        LazyList(lambda: iter([["s", 1.5]])),
        "plain",
    ):
        text, _ = _streamed(value)
        plain = {"Domains": [{"Domain": {"AoRs": items, "Stats": {"Records": 3000}}}]}
        assert text.decode() == kamjson.dumps(value)
        if value is not None and isinstance(value, dict) and "Domains" in value:
            assert text.decode() == kamjson.dumps(plain)


def test_a_big_answer_leaves_in_many_bounded_pieces() -> None:
    items = _contacts(20_000)
    text, pieces = _streamed({"AoRs": LazyList(lambda: chunks_of(items, 200))})
    assert len(text) > 2 * kamjson.STREAM_FLUSH_BYTES and pieces > 2
    assert text.decode() == kamjson.dumps({"AoRs": items})


def test_lazy_list_reads_as_a_list_in_process() -> None:
    lazy = LazyList(lambda: chunks_of(range(5), 2))
    assert lazy == [0, 1, 2, 3, 4] and len(lazy) == 5 and lazy[-1] == 4 and list(lazy)[0] == 0


def test_http_streams_chunked_on_1_1_and_until_close_on_1_0(rpc, state) -> None:
    import json
    import socket

    from kamtool.proxy.usrloc import Binding

    def fill() -> None:
        for i in range(2000):
            aor = f"s{i:05d}"
            state.usrloc.records[aor] = [
                Binding(aor=aor, contact=f"sip:{aor}@h", expires=0, ruid=f"r{i}", state="CS_SYNC")
            ]

    rpc.call(fill)
    body = json.dumps({"jsonrpc": "2.0", "method": "ul.dump", "id": 1}).encode()
    for version in (b"HTTP/1.1", b"HTTP/1.0"):
        with socket.create_connection(("127.0.0.1", rpc.server.port), timeout=10) as s:
            s.sendall(b"POST /RPC %s\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
                      % (version, len(body), body))  # fmt: skip
            raw = b""
            while chunk := s.recv(1 << 16):  # the server closes after the answer
                raw += chunk
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.startswith(version + b" 200 OK")
        if version == b"HTTP/1.1":
            assert b"Transfer-Encoding: chunked" in head
            text, rest = b"", payload
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                text, rest = text + rest[:size], rest[size + 2 :]
            payload = text
        else:
            assert b"Content-Length" not in head and b"Connection: close" in head
        dump = json.loads(payload)["result"]["Domains"][0]["Domain"]
        assert len(dump["AoRs"]) >= 2000 and dump["Stats"]["Records"] == len(dump["AoRs"])


def test_a_sip_byte_that_is_not_utf8_is_printed_as_an_escape() -> None:
    """The parser keeps such bytes (a dialog's Call-ID, From...) as lone surrogates:
    the strict UTF-8 encode raised and the HTTP RPC connection failed (live fuzzer). Both
    printers now send a \\udcXX escape: valid JSON that reads back as the same string."""
    import json

    from kamtool.rpc.server.dispatch import render

    value = {"call-id": "\udca1x@h", "dialogs": LazyList(lambda: iter([["\udcff"]]))}
    text, _ = _streamed(value)
    assert json.loads(text) == {"call-id": "\udca1x@h", "dialogs": ["\udcff"]}
    assert json.loads(asyncio.run(render({"from": "\udca1"}))) == {"from": "\udca1"}
