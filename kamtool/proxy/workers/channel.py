"""The datagram link between workers: one unix datagram socket each, in the supervisor's
private directory (mode 0700: no other user can send into it).

A datagram is one byte of kind, then its payload; :class:`Channel` hands each to the
handler registered for its kind. Sending never blocks the loop: a full receive queue
(the peer is busy or gone) drops the datagram and counts it, as UDP would (SIP's
retransmissions cover it; registration changes are sent again by the next REGISTER).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from kamtool.proxy.workers import WorkerContext

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]
_BATCH = 64  # datagrams read per wake-up before the loop runs something else
_MAX = 1 << 17  # a SIP message is at most 64 KiB; a registration change far less


class Channel:
    """This worker's end of the link (see module docstring)."""

    def __init__(self, ctx: WorkerContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        self.handlers: dict[int, Handler] = {}
        self.sent = self.received = self.dropped = 0
        path = ctx.dgram_path(ctx.index)
        try:
            os.unlink(path)  # left by the worker this one replaces
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
            except OSError:
                pass
        loop.add_reader(self.sock.fileno(), self._readable)

    def on(self, kind: bytes, handler: Handler) -> None:
        """Call ``handler(payload)`` for every datagram of ``kind`` (one byte)."""
        self.handlers[kind[0]] = handler

    def send(self, to: int, kind: bytes, payload: bytes) -> bool:
        """Send one datagram to worker ``to``; False when it was dropped."""
        try:
            self.sock.sendto(kind + payload, self.ctx.dgram_path(to))
        except OSError:  # EAGAIN (its queue is full), ENOENT/ECONNREFUSED (restarting)
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def broadcast(self, kind: bytes, payload: bytes) -> None:
        """Send one datagram to every other worker."""
        for index in self.ctx.others:
            self.send(index, kind, payload)

    def _readable(self) -> None:
        for _ in range(_BATCH):
            try:
                data = self.sock.recv(_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("worker channel: %s", exc)
                return
            if not data:
                continue
            self.received += 1
            handler = self.handlers.get(data[0])
            if handler is None:
                continue
            try:
                handler(data[1:])
            except Exception:  # one bad datagram must not stop the link
                log.exception("worker channel: handling a %r datagram", data[:1])

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.sock.fileno())
        except Exception:
            pass
        self.sock.close()
        try:
            os.unlink(self.ctx.dgram_path(self.ctx.index))
        except OSError:
            pass
