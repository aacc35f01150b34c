"""The datagram link between workers: one unix datagram socket each, in the supervisor's
private directory (mode 0700: no other user can send into it).

A datagram is one byte of kind, then its payload; :class:`Channel` hands each to the
handler registered for its kind.

Sending never blocks the loop, and a busy peer loses nothing: a unix datagram socket
takes only ``net.unix.max_dgram_qlen`` datagrams (10 by default) before its senders get
EAGAIN, which a worker in the middle of a burst reaches at once. So each peer is sent to
through a socket *connected* to it, whose writability follows the peer's queue: what
does not fit waits in a bounded queue here and goes when the peer has read (the loop's
writer callback). Only a peer that is gone (restarting) or hopelessly behind
(:data:`MAX_QUEUED`) loses datagrams, counted in ``dropped``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import deque
from collections.abc import Callable

from kamtool.proxy.workers import WorkerContext

log = logging.getLogger(__name__)

Handler = Callable[[bytes], None]

# Every kind of datagram, here so that no two share a byte: SIP messages for their owner,
# data to send on a connection another worker holds, a connection opened or closed, a
# worker (re)started, and the copies of registrations, dispatcher states, dialog profile
# counts and shared htable items.
SIP, SEND, CONN, HELLO = b"S", b"T", b"C", b"H"
LOCATION, DISPATCHER, PROFILES, TABLES = b"U", b"D", b"P", b"B"
_BATCH = 64  # datagrams read per wake-up before the loop runs something else
_MAX = 1 << 17  # a SIP message is at most 64 KiB; a registration change far less
MAX_QUEUED = 10_000  # datagrams waiting for one peer; beyond, they are dropped


class Channel:
    """This worker's end of the link (see module docstring)."""

    def __init__(self, ctx: WorkerContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        self.handlers: dict[int, Handler] = {}
        self._peers: dict[int, _Peer] = {}
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
        if kind[0] in self.handlers:
            raise ValueError(f"worker channel: {kind!r} has a handler already")
        self.handlers[kind[0]] = handler

    def send(self, to: int, kind: bytes, payload: bytes, *, expected: bool = False) -> bool:
        """Send one datagram to worker ``to`` (now, or queued until it reads); False when
        it was dropped (the worker is not there), counted unless the loss was
        ``expected`` (a hello to workers that may not have started yet)."""
        peer = self._peers.get(to)
        if peer is None:
            peer = self._peers[to] = _Peer(self, to)
        if peer.send(kind + payload):
            self.sent += 1
            return True
        self.dropped += not expected
        return False

    def broadcast(self, kind: bytes, payload: bytes, *, expected: bool = False) -> None:
        """Send one datagram to every other worker."""
        for index in self.ctx.others:
            self.send(index, kind, payload, expected=expected)

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
        for peer in self._peers.values():
            peer.close()
        try:
            self.loop.remove_reader(self.sock.fileno())
        except Exception:
            pass
        self.sock.close()
        try:
            os.unlink(self.ctx.dgram_path(self.ctx.index))
        except OSError:
            pass


class _Peer:
    """The sending side towards one worker: a socket connected to its path, and what
    waits for room in its queue."""

    def __init__(self, channel: Channel, index: int) -> None:
        self.channel = channel
        self.path = channel.ctx.dgram_path(index)
        self.sock: socket.socket | None = None
        self.queue: deque[bytes] = deque()
        self.waiting = False  # a writer callback is armed

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.connect(self.path)
        except OSError:  # not there (yet, or restarting)
            sock.close()
            return None
        self.sock = sock
        return sock

    def send(self, data: bytes) -> bool:
        if self.queue:  # keep the order: after what waits
            if len(self.queue) >= MAX_QUEUED:
                return False
            self.queue.append(data)
            return True
        for _ in range(2):  # once more on a fresh socket: the worker was replaced
            sock = self.sock or self._connect()
            if sock is None:
                return False
            try:
                sock.send(data)
                return True
            except BlockingIOError:
                self.queue.append(data)
                self._wait()
                return True
            except OSError:  # ECONNREFUSED: the worker it was connected to is gone
                self._drop_socket()
        return False

    def _wait(self) -> None:
        if not self.waiting and self.sock is not None:
            self.channel.loop.add_writer(self.sock.fileno(), self._writable)
            self.waiting = True

    def _writable(self) -> None:
        sock = self.sock
        while self.queue and sock is not None:
            try:
                sock.send(self.queue[0])
            except BlockingIOError:
                return  # still full: called again when there is room
            except OSError:  # gone meanwhile: what waited is lost
                self.channel.dropped += len(self.queue)
                self.queue.clear()
                self._drop_socket()
                return
            self.queue.popleft()
        self._unwait()

    def _unwait(self) -> None:
        if self.waiting and self.sock is not None:
            self.channel.loop.remove_writer(self.sock.fileno())
        self.waiting = False

    def _drop_socket(self) -> None:
        self._unwait()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def close(self) -> None:
        self.queue.clear()
        self._drop_socket()
