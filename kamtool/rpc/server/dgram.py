"""The unix datagram transport, as jsonrpcs offers it.

One request per datagram; the reply goes to the address the client bound (an unbound
client cannot be answered: there is no address to send to). The socket's send buffer is
raised as far as the system allows (SO_SNDBUFFORCE as root, else SO_SNDBUF up to
``net.core.wmem_max``), so replies of a few megabytes leave as one datagram, as with
Kamailio. A reply too large even for that (a 20,000-contact ``ul.dump`` is ~16 MB) is sent
as consecutive datagrams of ``CHUNK`` bytes whose concatenation is the JSON text; unix
datagrams are reliable and ordered, and kamtool's client joins them until the text parses.
Kamailio instead drops such a reply ("failed to send the response" in its log), leaving
the client to time out. Malformed JSON gets a ``-32700`` reply; Kamailio sends nothing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import stat
from pathlib import Path

from kamtool.rpc import kamjson
from kamtool.rpc.methods import Registry
from kamtool.rpc.server.dispatch import handle_bytes, is_streamed, render
from kamtool.rpc.server.endpoint import LocalEndpoint

__all__ = ["DgramServer"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
SEND_BUFFER_BYTES = 64 * 1024 * 1024
SEND_TIMEOUT = 10.0
CHUNK = 1 << 20  # datagram size when a reply must be split
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


class DgramServer(LocalEndpoint):
    """Answers JSON-RPC datagrams on the unix socket ``path`` (mode 0600)."""

    def __init__(
        self, registry: Registry, path: Path, *, send_buffer: int = SEND_BUFFER_BYTES
    ) -> None:
        super().__init__(path)
        self.registry = registry
        self.send_buffer = send_buffer
        self.chunk = CHUNK
        self._sock: socket.socket | None = None
        self._send_lock = asyncio.Lock()  # one reply at a time: chunks must not interleave

    async def start(self) -> None:
        """Bind the socket (replacing a stale one). Raises :class:`EndpointInUse` when
        another live server has it."""
        self._claim_path(stat.S_ISSOCK, self._has_listener)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.setblocking(False)
        _grow_send_buffer(sock, self.send_buffer)
        # the kernel reports twice the usable size; keep room for its per-datagram overhead
        usable = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 2
        self.chunk = max(4096, min(CHUNK, usable - 1024))
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    async def close(self) -> None:
        if self._sock is None:
            return  # never started (or the path was another server's): leave it alone
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        await self._release()

    def _has_listener(self) -> bool:
        """Whether a process is bound to the socket (connecting is refused if not)."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(str(self.path))
        except ConnectionRefusedError:
            return False
        finally:
            probe.close()
        return True

    def _readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, addr = self._sock.recvfrom(MAX_REQUEST_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("RPC datagram socket: %s", exc)
                return
            if not addr:
                log.warning("RPC datagram from an unbound socket: cannot answer, dropped")
                continue
            self._spawn(self._serve(data, addr))

    async def _serve(self, data: bytes, addr: str) -> None:
        reply = await handle_bytes(self.registry, data)
        if reply.body is None:
            return
        try:
            if is_streamed(reply.body):
                await self._send_streamed(reply.body, addr)
                return
            payload = await render(reply.body)
            await self._send(payload, addr)
        except OSError as exc:
            log.warning("RPC datagram reply to %s failed: %s", addr, exc)
        except TimeoutError:
            log.warning("RPC datagram reply to %s timed out (client not reading)", addr)

    async def _send(self, payload: bytes, addr: str) -> None:
        """Send ``payload`` as one datagram, or as consecutive CHUNK-sized datagrams when
        it is larger than the socket can carry at once."""
        sock = self._sock
        if sock is None:
            return
        async with self._send_lock:
            try:
                await self._send_one(sock, payload, addr)
                return
            except OSError as exc:
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                    raise
            view = memoryview(payload)
            for start in range(0, len(payload), self.chunk):
                await self._send_one(sock, view[start : start + self.chunk], addr)

    async def _send_streamed(self, body: object, addr: str) -> None:
        """A big answer printed in pieces (the event loop keeps serving SIP), then sent as
        :meth:`_send` sends any answer: clients read one datagram, so it must be whole."""
        payload = bytearray()

        async def collect(data: bytes) -> None:
            payload.extend(data)

        await kamjson.stream(body, collect)
        await self._send(bytes(payload), addr)

    async def _send_one(self, sock: socket.socket, data: bytes | memoryview, addr: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                pass  # the client's receive queue is full: wait until it reads
            ready = loop.create_future()
            loop.add_writer(sock.fileno(), _wake, ready)
            try:
                await asyncio.wait_for(ready, SEND_TIMEOUT)
            finally:
                loop.remove_writer(sock.fileno())


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _grow_send_buffer(sock: socket.socket, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, size)
        return
    except OSError:
        pass  # not root: the plain option, capped by net.core.wmem_max
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except OSError:
        pass
