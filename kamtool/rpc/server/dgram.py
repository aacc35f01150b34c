"""The unix datagram transport, as jsonrpcs offers it.

One request per datagram; the reply is one datagram sent to the address the client bound
(an unbound client cannot be answered: there is no address to send to). Replies are sent
whole: the socket's send buffer is raised as far as the system allows (SO_SNDBUFFORCE
as root, else SO_SNDBUF up to ``net.core.wmem_max``), which carries replies of several
megabytes on Linux. A reply that still does not fit is replaced by a ``-32603`` error
naming its size, instead of Kamailio's silent drop (it logs "failed to send the response").
Malformed JSON gets a ``-32700`` reply; Kamailio sends nothing.
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
from kamtool.rpc.methods import INTERNAL_ERROR, Registry
from kamtool.rpc.server.dispatch import error_object, handle_bytes

__all__ = ["DgramServer"]

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
SEND_BUFFER_BYTES = 64 * 1024 * 1024
SEND_TIMEOUT = 10.0
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


class DgramServer:
    """Answers JSON-RPC datagrams on the unix socket ``path`` (mode 0600)."""

    def __init__(self, registry: Registry, path: Path) -> None:
        self.registry = registry
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()  # one waiter on the socket's writability at a time

    async def start(self) -> None:
        try:
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                self.path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.setblocking(False)
        _grow_send_buffer(sock)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    async def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

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
            task = asyncio.get_running_loop().create_task(self._serve(data, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, data: bytes, addr: str) -> None:
        reply = await handle_bytes(self.registry, data)
        if reply.body is None:
            return
        payload = kamjson.dumps(reply.body).encode()
        try:
            await self._send(payload, addr)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                log.warning("RPC datagram reply to %s failed: %s", addr, exc)
                return
            req_id = reply.body.get("id") if isinstance(reply.body, dict) else None
            err = error_object(
                INTERNAL_ERROR,
                f"Reply of {len(payload)} bytes is too large for a datagram; use HTTP or FIFO",
                req_id,
            )
            try:
                await self._send(kamjson.dumps(err).encode(), addr)
            except OSError as exc2:
                log.warning("RPC datagram reply to %s failed: %s", addr, exc2)
        except TimeoutError:
            log.warning("RPC datagram reply to %s timed out (client not reading)", addr)

    async def _send(self, payload: bytes, addr: str) -> None:
        sock = self._sock
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        async with self._send_lock:
            await self._send_locked(loop, sock, payload, addr)

    async def _send_locked(self, loop, sock: socket.socket, payload: bytes, addr: str) -> None:
        while True:
            try:
                sock.sendto(payload, addr)
                return
            except (BlockingIOError, InterruptedError):
                pass
            ready = loop.create_future()
            loop.add_writer(sock.fileno(), ready.set_result, None)
            try:
                await asyncio.wait_for(ready, SEND_TIMEOUT)
            finally:
                loop.remove_writer(sock.fileno())


def _grow_send_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, SEND_BUFFER_BYTES)
        return
    except OSError:
        pass  # not root: the plain option, capped by net.core.wmem_max
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    except OSError:
        pass
