"""JSON text exactly as Kamailio's jsonrpcs prints it (its cJSON fork, ``pretty_format=1``).

Rules, checked byte for byte against the reference captures (``response_raw``):

* one TAB per nesting level, a TAB after ``"key":``, members separated by ``,\\n``;
* objects inside arrays open on the same line: ``[{``, ``}, {``, ``}]``;
* array items separated by ``, `` and never broken over lines: ``["a", "b"]``, ``[]``;
* an empty object is ``{`` newline, the parent's indent, ``}``;
* numbers: integral values as integers, otherwise ``%f`` (``0.500000``), very small or
  very large non-integral values as ``%e``;
* strings escape only ``"``, ``\\``, and control characters; other text is raw UTF-8;
* no trailing newline.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from json.encoder import encode_basestring  # the C escaper: same escapes as cJSON
from typing import Any

__all__ = [
    "LazyList",
    "chunks_of",
    "contains_lazy",
    "dumps",
    "encode",
    "format_number",
    "off_loop",
    "stream",
]

# Python's escaper and cJSON's agree: \" \\ \b \f \n \r \t, other controls as \u00xx
# (lower-case hex), everything else (including non-ASCII) raw.
_string = encode_basestring


class LazyList:
    """A JSON array whose items are made when it is printed, chunk by chunk.

    Big RPC answers (a 100,000-contact ``ul.dump``) are not built whole: the method
    returns its envelope with a LazyList where the long array goes, over a snapshot it
    took (the list of AoRs, of dialogs, of buckets). ``produce()`` yields lists of items,
    each made from a bounded part of that snapshot; with ``threaded`` (the default) the
    items are made *and* printed on the printing thread, chunk after chunk, each sent
    before the next is made: the event loop only hands the text on, and memory stays at
    about one chunk per answer. Items are read from the live objects the snapshot names,
    attribute by attribute (each read is atomic under the GIL; an object changed at that
    very moment may show old and new fields, as a row read without a lock would).
    ``threaded=False`` makes the items on the loop (a source that must not be read from
    another thread, such as a database connection of the loop's).
    """

    __slots__ = ("produce", "threaded")

    def __init__(self, produce: Callable[[], Iterable[list[Any]]], threaded: bool = True) -> None:
        self.produce = produce
        self.threaded = threaded

    def items(self) -> list[Any]:
        """Everything at once (:func:`dumps` and in-process callers)."""
        return [item for chunk in self.produce() for item in chunk]

    # in-process callers (tests, a registry used as a library) see a read-only list
    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self.items())

    def __getitem__(self, index: Any) -> Any:
        return self.items()[index]

    def __eq__(self, other: object) -> bool:
        return self.items() == (other.items() if isinstance(other, LazyList) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyList({self.items()!r})"


def chunks_of(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size``."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def contains_lazy(value: Any, depth: int = 0) -> bool:
    """Whether a LazyList sits in ``value``'s envelope (small dicts and lists, 8 deep:
    a streamed answer's envelope is small, and a big plain answer is not walked)."""
    if isinstance(value, LazyList):
        return True
    if depth > 8:
        return False
    if type(value) is dict and len(value) <= 64:
        return any(contains_lazy(v, depth + 1) for v in value.values())
    if type(value) is list and len(value) <= 64:
        return any(contains_lazy(v, depth + 1) for v in value)
    return False


def format_number(n: float) -> str:
    """A number as cJSON prints it."""
    if isinstance(n, int):
        return str(n)
    if math.isnan(n) or math.isinf(n):
        return "null"  # not representable in JSON; cJSON does the same
    if n == math.floor(n) and abs(n) < 1e60:
        return str(int(n))
    if abs(n) < 1e-6 or abs(n) > 1e9:
        return f"{n:e}"
    return f"{n:f}"


class _Printer:
    """One dumps() call. Indents and ``"key":\t`` prefixes are cached: replies repeat the
    same keys thousands of times (a 20,000 contact ul.dump prints 500,000 members)."""

    __slots__ = ("_keys", "_tabs")

    def __init__(self) -> None:
        self._tabs: list[str] = [""]
        self._keys: dict[tuple[int, str], str] = {}

    def tabs(self, depth: int) -> str:
        tabs = self._tabs
        while len(tabs) <= depth:
            tabs.append("\t" * len(tabs))
        return tabs[depth]

    def value(self, v: Any, depth: int) -> str:
        t = type(v)
        if t is str:
            return _string(v)
        if t is dict:
            return self.obj(v, depth)
        if t is int:
            return int.__repr__(v)
        if t is list or t is tuple:
            if not v:
                return "[]"
            inner = depth + 1
            return "[" + ", ".join([self.value(item, inner) for item in v]) + "]"
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, str):
            return _string(str(v))
        if isinstance(v, int | float):
            return format_number(v)
        if isinstance(v, LazyList):
            return self.value(v.items(), depth)
        if isinstance(v, dict):
            return self.obj(v, depth)
        if isinstance(v, list | tuple):
            return self.value(list(v), depth)
        raise TypeError(f"cannot print {type(v).__name__} as JSON")

    def obj(self, obj: dict[str, Any], depth: int) -> str:
        if not obj:
            return "{\n" + self.tabs(depth) + "}"
        keys = self._keys
        inner = depth + 1
        members = []
        for key, item in obj.items():
            prefix = keys.get((inner, key))
            if prefix is None:
                prefix = keys[(inner, key)] = f"{self.tabs(inner)}{_string(str(key))}:\t"
            t = type(item)
            if t is str:
                members.append(prefix + _string(item))
            elif t is int:
                members.append(prefix + int.__repr__(item))
            else:
                members.append(prefix + self.value(item, inner))
        return "{\n" + ",\n".join(members) + "\n" + self.tabs(depth) + "}"

    def prefix(self, depth: int, key: str) -> str:
        found = self._keys.get((depth, key))
        if found is None:
            found = self._keys[(depth, key)] = f"{self.tabs(depth)}{_string(str(key))}:\t"
        return found

    def items(self, items: list[Any], depth: int) -> str:
        """Array items at ``depth`` joined as :meth:`value` joins them."""
        return ", ".join([self.value(item, depth) for item in items])


def dumps(value: Any) -> str:
    """``value`` printed the way Kamailio's jsonrpcs prints a reply."""
    return _Printer().value(value, 0)


def encode(text: str) -> bytes:
    """Printed JSON as UTF-8. A SIP byte that is not UTF-8 (a From, a Call-ID of a
    dialog...) is kept by the parser as a lone surrogate, which strict UTF-8 refuses:
    it goes out as a ``\\udcXX`` escape, still valid JSON (strings only hold them)."""
    return text.encode("utf-8", "backslashreplace")


STREAM_FLUSH_BYTES = 256 * 1024

_printer_thread: ThreadPoolExecutor | None = None


async def off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` on the one printing thread. One, not a pool: each thread printing
    Python code competes for the GIL with the event loop, and with several the loop
    waited 100 ms for it (three parallel 20,000-contact dumps); big answers queue instead.
    """
    global _printer_thread
    if _printer_thread is None:
        _printer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rpc-print")
        # the loop waits up to one switch interval for the GIL while this thread prints:
        # 5 ms by default, for each of the few times a SIP message needs it; 1 ms keeps
        # a message's delay small at a negligible switching cost
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    return await asyncio.get_running_loop().run_in_executor(_printer_thread, fn, *args)


def _next_text(printer: _Printer, chunks: Iterator[list[Any]], depth: int) -> str | None:
    """The next chunk printed ("" for an empty one), None at the end."""
    chunk = next(chunks, None)
    return None if chunk is None else printer.items(chunk, depth)


class _Stream:
    """One :func:`stream` call: text collects in ``parts`` and leaves in ~256 KiB writes."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self.printer = _Printer()
        self.write = write
        self.parts: list[str] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    async def flush(self, force: bool = False) -> None:
        if self.parts and (force or self.size >= STREAM_FLUSH_BYTES):
            data = encode("".join(self.parts))
            self.parts, self.size = [], 0
            await self.write(data)

    async def emit(self, v: Any, depth: int) -> None:
        p = self.printer
        if isinstance(v, LazyList):
            self.add("[")
            first = True
            chunks = iter(v.produce())
            while True:
                if v.threaded:  # made and printed on the printing thread
                    text = await off_loop(_next_text, p, chunks, depth + 1)
                else:  # made on the loop, a bounded part at a time, printed off it
                    chunk = next(chunks, None)
                    text = None if chunk is None else await off_loop(p.items, chunk, depth + 1)
                if text is None:
                    break
                if text:
                    self.add(text if first else ", " + text)
                    first = False
                    await self.flush()
            self.add("]")
        elif type(v) is dict and v and contains_lazy(v):
            self.add("{\n")
            for i, (key, item) in enumerate(v.items()):
                self.add((",\n" if i else "") + p.prefix(depth + 1, key))
                await self.emit(item, depth + 1)
            self.add("\n" + p.tabs(depth) + "}")
        elif type(v) is list and contains_lazy(v):
            self.add("[")
            for i, item in enumerate(v):
                if i:
                    self.add(", ")
                await self.emit(item, depth + 1)
            self.add("]")
        else:
            self.add(p.value(v, depth))


async def stream(value: Any, write: Callable[[bytes], Awaitable[None]]) -> None:
    """Print ``value`` as :func:`dumps` does, handing the bytes to ``write`` in pieces of
    about 256 KiB; LazyLists are made and printed chunk by chunk (see :class:`LazyList`),
    so neither the answer nor its text is ever whole in memory and the event loop only
    ever works on one chunk at a time."""
    # Not one stream at a time: a client that reads slowly would hold up everybody's
    # answers. Parallel streams share the one printing thread chunk by chunk instead.
    out = _Stream(write)
    await out.emit(value, 0)
    await out.flush(force=True)
