"""The FIFO transport, as jsonrpcs offers it (and as kamctl uses it).

A client writes a JSON-RPC request carrying ``"reply_name": "<name>"`` into the server's
FIFO; the server writes the reply into the FIFO ``<reply_dir>/<name>`` that the client
created, then closes it. Differences from Kamailio 5.6, all to avoid silent hangs:

* a request without ``reply_name`` cannot be answered (nowhere to write); it is not
  executed and is logged. Kamailio runs it and then writes into the previous request's
  reply FIFO;
* malformed JSON still gets a ``-32700`` reply when a ``reply_name`` can be read from the
  text; Kamailio answers nothing;
* a broken document does not swallow later requests (Kamailio keeps reading lines until
  the braces balance): it ends at a raw newline inside a string, at a ``{`` starting a
  line, or after ``STALL_SECONDS`` without new data, and gets its ``-32700``;
* the reply path must stay inside ``reply_dir`` and be a FIFO owned by our user (or root);
  the server never creates or follows anything else there.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import stat
from pathlib import Path

from kamtool.rpc import kamjson
from kamtool.rpc.methods import PARSE_ERROR, Registry
from kamtool.rpc.server.dispatch import (
    error_object,
    handle_document,
    is_streamed,
    loads,
    render,
)
from kamtool.rpc.server.endpoint import EndpointInUse, LocalEndpoint

__all__ = ["EndpointInUse", "FifoServer"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024  # a 1000-call batch is ~100 KB; parsing more blocks SIP
STALL_SECONDS = 2.0
REPLY_OPEN_SECONDS = 5.0  # how long we wait for the client to open its reply FIFO
REPLY_WRITE_SECONDS = 30.0

_REPLY_NAME = re.compile(rb'"reply_name"\s*:\s*"([^"\\]{1,255})"')


class FifoServer(LocalEndpoint):
    """Reads requests from ``path`` (created mode 0600) and answers into reply FIFOs."""

    def __init__(self, registry: Registry, path: Path, reply_dir: Path = Path("/tmp")) -> None:
        super().__init__(path)
        self.registry = registry
        self.reply_dir = Path(reply_dir)
        self._fd: int | None = None
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scanned = 0
        self._stall: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Create the FIFO (replacing a stale one) and start reading.

        Raises :class:`EndpointInUse` when another live server reads that FIFO."""
        self._claim_path(stat.S_ISFIFO, self._has_reader)
        os.mkfifo(self.path, 0o600)
        os.chmod(self.path, 0o600)
        # O_RDWR keeps a writer open ourselves, so we never see EOF between clients.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def _has_reader(self) -> bool:
        """Whether a process reads the FIFO (opening it for writing fails with ENXIO if not)."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            return False
        return True

    async def close(self) -> None:
        if self._fd is None:
            return  # never started (or the path was another server's): leave it alone
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
        if self._stall is not None:
            self._stall.cancel()
        await self._release()

    # ---- request framing -------------------------------------------------------------

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        if not data:
            return
        self._buf += data
        self._frame()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        if self._buf.strip():
            loop = asyncio.get_running_loop()
            self._stall = loop.call_later(STALL_SECONDS, self._drop_stalled)
        if len(self._buf) > MAX_REQUEST_BYTES:
            log.warning("RPC FIFO: request larger than %d bytes dropped", MAX_REQUEST_BYTES)
            self._reset()

    def _frame(self) -> None:
        """Cut complete documents (balanced braces/brackets outside strings) from the buffer.

        A document is also cut short, and answered as malformed, when it cannot go on as
        JSON: a raw newline inside a string, or a ``{`` at the start of a line while a
        document is open (the next request). Text outside any document is taken a line
        at a time. So one broken request never swallows the ones after it.
        """
        buf = self._buf
        i = self._scanned
        while i < len(buf):
            c = buf[i]
            if self._depth == 0:
                if c in b" \t\r\n":
                    i += 1
                elif c in (0x7B, 0x5B):  # { [
                    self._depth = 1
                    i += 1
                else:  # garbage outside any document: the rest of the line
                    end = buf.find(b"\n", i)
                    if end < 0:
                        break  # wait for the newline (or the stall timer)
                    self._cut(end + 1)
                    i = 0
                continue
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif c == 0x5C:  # backslash
                    self._escape = True
                elif c == 0x22:
                    self._in_string = False
                elif c == 0x0A:  # JSON strings cannot hold a raw newline
                    self._cut(i + 1)
                    i = 0
                    continue
            elif c == 0x22:
                self._in_string = True
            elif c in (0x7B, 0x5B):
                if c == 0x7B and buf[i - 1] == 0x0A:  # the next request begins
                    self._cut(i)
                    self._depth = 1
                    i = 1
                    continue
                self._depth += 1
            elif c in (0x7D, 0x5D):  # } ]
                self._depth -= 1
                if self._depth == 0:
                    self._cut(i + 1)
                    i = 0
                    continue
            i += 1
        self._scanned = i
        if not buf.strip():
            buf.clear()
            self._scanned = 0

    def _cut(self, n: int) -> None:
        """Hand ``buf[:n]`` over as one request and reset the scanner."""
        self._emit(bytes(self._buf[:n]))
        del self._buf[:n]
        self._depth = 0
        self._in_string = self._escape = False

    def _reset(self) -> None:
        self._buf.clear()
        self._depth = 0
        self._in_string = self._escape = False
        self._scanned = 0

    def _drop_stalled(self) -> None:
        self._stall = None
        if self._buf.strip():
            self._emit(bytes(self._buf))
        self._reset()

    # ---- answering -------------------------------------------------------------------

    def _emit(self, raw: bytes) -> None:
        if not raw.strip():
            return
        self._spawn(self._serve(raw))

    async def _serve(self, raw: bytes) -> None:
        try:
            doc = loads(raw)
        except (ValueError, RecursionError):
            found = _REPLY_NAME.search(raw)
            if found is None:
                log.warning("RPC FIFO: malformed request without reply_name dropped")
                return
            body = error_object(PARSE_ERROR, "Parse error: invalid JSON", None)
            await self._reply(found.group(1).decode("utf-8", "replace"), body)
            return
        reply_name = _reply_name(doc)
        if reply_name is None:
            log.warning("RPC FIFO: request without reply_name not executed (no way to answer)")
            return
        reply = await handle_document(self.registry, _strip_reply_name(doc))
        if reply.body is not None:
            await self._reply(reply_name, reply.body)

    async def _reply(self, name: str, body: object) -> None:
        path = self._reply_path(name)
        if path is None:
            log.warning("RPC FIFO: refused reply_name %r", name[:100])
            return
        streamed = is_streamed(body)
        data = b"" if streamed else await render(body)
        try:
            fd = await self._open_reply(path)
        except OSError as exc:
            log.warning("RPC FIFO: cannot open reply FIFO %s: %s", path, exc)
            return
        try:
            if streamed:  # printed and written in pieces (kamjson.LazyList)
                await kamjson.stream(body, lambda piece: _write_all(fd, piece))
            else:
                await _write_all(fd, data)
        except (OSError, TimeoutError) as exc:
            log.warning("RPC FIFO: reply to %s not delivered: %s", path, exc)
        finally:
            os.close(fd)

    def _reply_path(self, name: str) -> Path | None:
        """``reply_dir/name`` if it is a FIFO inside reply_dir owned by us or root."""
        if not name or "\x00" in name or name.startswith("/"):
            return None
        if any(part == ".." for part in Path(name).parts):
            return None
        path = self.reply_dir / name
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISFIFO(st.st_mode) or st.st_uid not in (os.getuid(), 0):
            return None
        return path

    async def _open_reply(self, path: Path) -> int:
        """Open the reply FIFO for writing once the client has it open for reading."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_OPEN_SECONDS
        delay = 0.002
        while True:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            except OSError as exc:
                # ENXIO: nobody reads yet. Poll briefly; a FIFO offers no event for this.
                if exc.errno != errno.ENXIO or loop.time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)


async def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to a non-blocking fd, waiting for room with the event loop."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
            continue
        except BlockingIOError:
            pass
        ready = loop.create_future()
        loop.add_writer(fd, _wake, ready)
        try:
            await asyncio.wait_for(ready, REPLY_WRITE_SECONDS)
        finally:
            loop.remove_writer(fd)


def _reply_name(doc: object) -> str | None:
    if isinstance(doc, dict):
        name = doc.get("reply_name")
        return name if isinstance(name, str) else None
    if isinstance(doc, list):  # a batch: the first element naming a reply FIFO
        for item in doc:
            if isinstance(item, dict) and isinstance(item.get("reply_name"), str):
                return item["reply_name"]
    return None


def _strip_reply_name(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k != "reply_name"}
    if isinstance(doc, list):
        return [_strip_reply_name(item) for item in doc]
    return doc


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():  # the fd may be reported writable again before we remove the watch
        fut.set_result(None)
