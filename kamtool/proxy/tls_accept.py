"""TLS (and WSS) listeners whose handshakes count against the TCP limits.

asyncio's ``create_server(ssl=...)`` accepts every connection and only shows it to the
protocol once its TLS handshake is over. Until then no limit applies: a client that
opens thousands of connections and never finishes a handshake holds as many file
descriptors for ``ssl_handshake_timeout`` each, and with them the descriptors that
JSON-RPC, the database and honest clients need. So these listeners accept themselves
and hand each connection to :class:`~kamtool.proxy.tcplimits.TcpGuard` *before* the
handshake, as Kamailio's tcp_main counts a TLS connection from ``accept()``
(``tcp_max_connections``, ``tcp_accept_iplimit``). A connection over a limit is reset
at once; one admitted becomes the protocol's when its handshake completes
(:meth:`TcpGuard.handover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Handshake", "TlsServer", "serve_tls"]

# accept() failing for want of descriptors or memory: retry after this pause (asyncio's
# own accept loop does the same) rather than spin on a listening socket that is ready
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_PAUSE = 1.0
FAIL_LOG_EVERY = 10.0
# few per wakeup: a handshake evicted for a newcomer frees its descriptor only once the
# event loop has run its cancellation, so long bursts would borrow the fd headroom
ACCEPTS_PER_WAKEUP = 8


class Handshake:
    """An accepted connection whose TLS handshake is under way: what the guard counts
    until the protocol takes its place (the attributes the guard reads)."""

    outbound = False
    buffered = False

    def __init__(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.sock = sock
        self.peer = peer
        self.got_data = False  # the guard's data timeout closes a handshake never finished
        self.partial_since: float | None = None
        self.last_active = time.monotonic()
        self.task: asyncio.Task[Any] | None = None
        self.handed = False  # the event loop's transport owns the socket (and closes it)

    def close(self) -> None:
        """Abandon the handshake (the guard's timeout or eviction, or the server closing)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if not self.handed:
            self.sock.close()


class _Failures:
    """Failed handshakes in the log: why the first one failed, then at most one line per
    FAIL_LOG_EVERY seconds with the count since (a phone whose certificate is refused
    should be visible to the operator; a scanner must not fill the log)."""

    def __init__(self) -> None:
        self.next_at = 0.0
        self.quiet = 0

    def note(self, peer: tuple[str, int], why: str) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.quiet += 1
            return
        more = f" ({self.quiet} more failed since the last report)" if self.quiet else ""
        log.info("TLS: handshake with %s:%d failed: %s%s", peer[0], peer[1], why, more)
        self.quiet = 0
        self.next_at = now + FAIL_LOG_EVERY


def _why(exc: BaseException, timeout: float | None) -> str:
    """A failed handshake's cause in a few words (OpenSSL's reason when it has one)."""
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or str(exc)).replace("_", " ").lower()
    if isinstance(exc, TimeoutError):
        return f"not completed within {timeout:g} s" if timeout else "timed out"
    if isinstance(exc, ConnectionError):
        return "the client closed the connection"
    return str(exc) or type(exc).__name__


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): a refused client learns at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class TlsServer:
    """Listening sockets that accept, admit, then run the TLS handshake; the part of
    :class:`asyncio.Server` the transports use (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        socks: list[socket.socket],
        factory: Callable[[], asyncio.Protocol],
        ssl_context: ssl.SSLContext,
        guard: Any,
        handshake_timeout: float | None,
    ) -> None:
        self.loop = loop
        self.sockets = socks
        self.factory = factory
        self.ssl_context = ssl_context
        self.guard = guard
        self.handshake_timeout = handshake_timeout
        self.pending: set[Handshake] = set()
        self.failures = _Failures()
        self.closed = False
        for s in socks:
            loop.add_reader(s.fileno(), self._accept, s)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                log.warning("TLS: cannot accept on %s (%s): pausing %g s",
                            listener.getsockname(), exc.strerror, ACCEPT_PAUSE)  # fmt: skip
                self.loop.remove_reader(listener.fileno())
                self.loop.call_later(ACCEPT_PAUSE, self._resume, listener)
                return
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hs = Handshake(sock, (addr[0], addr[1]))
            if self.guard is not None and not self.guard.admit(hs):
                _reset(sock)
                continue
            self.pending.add(hs)
            hs.task = self.loop.create_task(self._handshake(hs))

    def _resume(self, listener: socket.socket) -> None:
        if not self.closed:
            self.loop.add_reader(listener.fileno(), self._accept, listener)

    def _protocol(self, hs: Handshake) -> asyncio.Protocol:
        proto = self.factory()
        proto.handshake = hs  # type: ignore[attr-defined]  # its connection_made hands over
        return proto

    async def _handshake(self, hs: Handshake) -> None:
        hs.handed = True
        try:
            await self.loop.connect_accepted_socket(
                lambda: self._protocol(hs), hs.sock, ssl=self.ssl_context,
                ssl_handshake_timeout=self.handshake_timeout,
            )  # fmt: skip
        except (OSError, asyncio.CancelledError) as exc:
            # the connection is gone (the transport closed the socket); cancelled: the
            # guard closed it and says so itself
            if not isinstance(exc, asyncio.CancelledError):
                self.failures.note(hs.peer, _why(exc, self.handshake_timeout))
            if self.guard is not None:
                self.guard.forget(hs)
        finally:
            self.pending.discard(hs)

    def close(self) -> None:
        """Stop accepting; abandon handshakes under way (established connections stay)."""
        if self.closed:
            return
        self.closed = True
        for s in self.sockets:
            self.loop.remove_reader(s.fileno())
            s.close()
        for hs in list(self.pending):
            hs.close()

    async def wait_closed(self) -> None:
        """Nothing outlives :meth:`close` but the handshake tasks it cancelled."""
        tasks = [hs.task for hs in self.pending if hs.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> TlsServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def _listening_sockets(host: str, port: int, reuse_port: bool) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for ``host`` (every address it names, as
    ``create_server`` binds them); OSError when one cannot be bound."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)  # fmt: skip
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in dict.fromkeys(infos):
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(addr)
            s.listen(socket.SOMAXCONN)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


async def serve_tls(
    factory: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    *,
    guard: Any = None,
    reuse_port: bool = False,
    handshake_timeout: float | None = None,
) -> TlsServer:
    """Listen on ``host:port`` for TLS; ``guard`` admits each connection before its
    handshake (None: no limits, asyncio's 60 s handshake timeout)."""
    loop = asyncio.get_running_loop()
    socks = _listening_sockets(host, port, reuse_port)
    return TlsServer(loop, socks, factory, ssl_context, guard, handshake_timeout)
