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
