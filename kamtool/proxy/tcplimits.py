"""Limits on SIP over TCP/TLS/WS/WSS connections: what keeps idle, slow and numerous clients from
taking the proxy's file descriptors (and with them SIP over TCP and JSON-RPC).

Kamailio's knobs, with its names (the last three are Kamailio 5.8's; 5.6 has only the
first two, so 2,000 idle or slowloris connections stay open there until
``tcp_connection_lifetime``):

* ``tcp_max_connections`` (2048): connections open in all, accepted and our own;
* ``tcp_connection_lifetime`` (3605 s): a connection idle this long is closed;
* ``tcp_accept_iplimit`` (256, 0: none): accepted connections from one source address.
  Kamailio's default is 1024; a NATed office of a few hundred phones still fits here;
* ``tcp_msg_read_timeout`` (20 s): a message begun must be complete within this
  (slowloris: a header line every few seconds);
* ``tcp_msg_data_timeout`` (20 s): an accepted connection must send something within
  this (and a TLS handshake complete);
* ``tcp_conn_wq_max`` (32 KiB, Kamailio 5.6's default): what may wait in our write
  queue for a peer that does not read; past it the connection is closed (``sendq_full``),
  rather than every answer to a client that never reads being kept in memory.

And one of kamtool's own, ``tcp_fd_headroom`` (128): the connection cap is also
``RLIMIT_NOFILE`` minus what the process had open at start minus this headroom, so the
JSON-RPC port, the database and new clients always find a descriptor (under
``ulimit -n 1024``, 1,100 connections from one host used to kill both). At the cap the
oldest idle connection (no message in progress) is closed for a newcomer; only when none
is idle is the newcomer refused.

A refused connection is reset at once. Each kind of trouble is logged once when it starts
and once when it is over, with what it cost; counters go to the ``tcp:`` statistics
(Kamailio's names: ``passive_open``, ``established``, ``local_reject``, ``con_timeout``,
``current_opened_connections``; kamtool's: ``evicted_idle``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["TcpGuard"]

SWEEP_EVERY = 1.0  # seconds between timeout checks


class TcpGuard:
    """Admission and timeouts of :class:`~kamtool.proxy.transport.TcpConnection` and
    :class:`~kamtool.proxy.ws.WsConnection` objects (a WebSocket is a TCP connection, as
    in Kamailio: the same caps and timeouts; a slow HTTP upgrade is a slow message).

    The transport calls :meth:`admit` when a client connects (False: reset it; a TLS
    client before its handshake, then :meth:`handover` to the protocol),
    :meth:`track` for connections we open, :meth:`received` after each read and
    :meth:`forget` when a connection is gone; :meth:`start` runs the sweep.
    """

    def __init__(
        self,
        *,
        max_connections: int = 2048,
        per_source: int = 256,
        read_timeout: float = 20.0,
        data_timeout: float = 20.0,
        lifetime: float = 3605.0,
        fd_headroom: int = 128,
        conn_wq_max: int = 32 * 1024,
        stats: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = max_connections
        self.per_source = per_source
        self.read_timeout = read_timeout
        self.data_timeout = data_timeout
        self.lifetime = lifetime
        self.fd_headroom = fd_headroom
        self.conn_wq_max = conn_wq_max
        self.clock = clock
        self.cap = max_connections  # lowered by start() to what the fd limit allows
        self.conns: dict[int, Any] = {}  # id(conn) -> conn, oldest first
        self.by_source: dict[str, int] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._episodes: dict[str, list[int]] = {}  # kind -> [events, of which closed]
        self._quiet = True  # nothing happened since the last sweep
        c = (lambda n: stats.counter("tcp", n)) if stats is not None else (lambda n: _Counter())
        self.c_passive, self.c_established = c("passive_open"), c("established")
        self.c_reject, self.c_timeout, self.c_evicted = (
            c("local_reject"), c("con_timeout"), c("evicted_idle"),
        )  # fmt: skip
        self.c_sendq_full = c("sendq_full")
        if stats is not None:
            stats.gauge("tcp", "current_opened_connections", lambda: len(self.conns))
            stats.gauge("tcp", "current_write_queue_size", self._queued)

    @classmethod
    def from_config(cls, cfg: Any, stats: Any = None) -> TcpGuard:
        """The guard a :class:`~kamtool.proxy.config.ProxyConfig` asks for."""
        return cls(
            max_connections=cfg.tcp_max_connections,
            per_source=cfg.tcp_accept_iplimit,
            read_timeout=cfg.tcp_msg_read_timeout,
            data_timeout=cfg.tcp_msg_data_timeout,
            lifetime=cfg.tcp_connection_lifetime,
            fd_headroom=cfg.tcp_fd_headroom,
            conn_wq_max=cfg.tcp_conn_wq_max,
            stats=stats,
        )

    # ---------------------------------------------------------------- life cycle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fit the cap to the descriptors we may open, and start the timeout sweep."""
        self.cap = min(self.max_connections, self._fd_budget())
        if self.cap < self.max_connections:
            log.info("TCP: at most %d connections (file descriptor limit)", self.cap)
        if self._sweeper is None:
            self._sweeper = loop.call_later(SWEEP_EVERY, self._sweep, loop)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _fd_budget(self) -> int:
        """Descriptors left for connections: the soft limit, raised towards the hard one
        when that helps, minus those open now, minus the headroom."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            in_use = len(os.listdir("/proc/self/fd"))
        except OSError:
            in_use = 64
        wanted = self.max_connections + self.fd_headroom + in_use
        if soft != resource.RLIM_INFINITY and soft < wanted:
            new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
                soft = new
            except (ValueError, OSError):
                pass
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, soft - in_use - self.fd_headroom)

    # ---------------------------------------------------------------- transport hooks

    def _queued(self) -> int:
        """Bytes waiting in our write queues for peers to read (all connections)."""
        return sum(c.transport.get_write_buffer_size() for c in list(self.conns.values())
                   if c.transport is not None)  # fmt: skip

    def write(self, conn: Any, data: bytes) -> None:
        """Send ``data`` on ``conn``, unless what already waits for the peer to read, with
        it, passes ``conn_wq_max``: then the connection is reset (one message bigger than
        the limit still goes out to a peer that reads)."""
        transport = conn.transport
        if transport is None:
            return
        queued = transport.get_write_buffer_size()
        if queued and queued + len(data) > self.conn_wq_max:
            self.c_sendq_full.value += 1
            self._event("sendq", f"{conn.proto} {conn.peer[0]}:{conn.peer[1]} does not read "
                        f"({queued} bytes waiting): closed", closed=True)  # fmt: skip
            conn.transport = None
            transport.abort()
            return
        transport.write(data)

    def admit(self, conn: Any) -> bool:
        """A client connected: True to keep it (tracked), False to reset it."""
        source = conn.peer[0]
        if self.per_source and self.by_source.get(source, 0) >= self.per_source:
            self._event("per_source", f"{source} has {self.per_source} connections "
                        "(tcp_accept_iplimit): refusing more from it")  # fmt: skip
            self.c_reject.value += 1
            return False
        if len(self.conns) >= self.cap:
            victim = self._oldest_idle()
            if victim is None:
                self._event("full", f"{len(self.conns)} connections open (limit {self.cap}), "
                            "none idle: refusing new ones")  # fmt: skip
                self.c_reject.value += 1
                return False
            self._event("evict", f"{len(self.conns)} connections open (limit {self.cap}): "
                        "closing the oldest idle ones for newcomers", closed=True)  # fmt: skip
            self.c_evicted.value += 1
            self._close(victim)
        self.c_passive.value += 1
        self.c_established.value += 1
        self.track(conn)
        return True

    def track(self, conn: Any) -> None:
        """Count a connection (ours, or an admitted one)."""
        if id(conn) in self.conns:
            return
        conn.opened_at = self.clock()
        conn.partial_since = None
        self.conns[id(conn)] = conn
        if not conn.outbound:
            source = conn.peer[0]
            self.by_source[source] = self.by_source.get(source, 0) + 1

    def handover(self, handshake: Any, conn: Any) -> None:
        """An admitted TLS ``handshake`` (:mod:`~kamtool.proxy.tls_accept`) completed:
        ``conn``, its protocol, takes its place, with no second admission."""
        self.forget(handshake)
        self.track(conn)

    def received(self, conn: Any, messages: int) -> None:
        """After a read that framed ``messages`` messages: restart or stop the clock of
        the message in progress."""
        conn.got_data = True
        if not conn.buffered:
            conn.partial_since = None
        elif messages or conn.partial_since is None:
            conn.partial_since = self.clock()

    def forget(self, conn: Any) -> None:
        """The connection is gone."""
        if self.conns.pop(id(conn), None) is None:
            return
        if not conn.outbound:
            source = conn.peer[0]
            left = self.by_source.get(source, 1) - 1
            if left > 0:
                self.by_source[source] = left
            else:
                self.by_source.pop(source, None)

    # ---------------------------------------------------------------- internals

    def _oldest_idle(self) -> Any:
        idle = [c for c in self.conns.values() if c.partial_since is None]
        return min(idle, key=lambda c: c.last_active) if idle else None

    def _close(self, conn: Any) -> None:
        self.forget(conn)
        conn.close()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = loop.call_later(SWEEP_EVERY, self._sweep, loop)
        now = self.clock()
        for conn in list(self.conns.values()):
            if conn.partial_since is not None and now - conn.partial_since > self.read_timeout:
                why = ("slow", "messages not completed within tcp_msg_read_timeout "
                       f"({self.read_timeout:g} s): closing such connections")  # fmt: skip
            elif (not conn.outbound and not conn.got_data
                  and now - conn.opened_at > self.data_timeout):  # fmt: skip
                why = ("silent", "connections silent since they opened for "
                       f"tcp_msg_data_timeout ({self.data_timeout:g} s): closing them")  # fmt: skip
            elif now - conn.last_active > self.lifetime:
                why = ("idle", f"connections idle for tcp_connection_lifetime "
                       f"({self.lifetime:g} s): closing them")  # fmt: skip
            else:
                continue
            self._event(*why, closed=True)
            self.c_timeout.value += 1
            self._close(conn)
        if self._quiet:
            self._end_episodes()
        self._quiet = True

    def _event(self, kind: str, text: str, closed: bool = False) -> None:
        """One log line when an episode of ``kind`` starts; counts until it ends. Idle
        connections reaching their lifetime are routine: info, not warning."""
        self._quiet = False
        counts = self._episodes.get(kind)
        if counts is None:
            log.log(logging.INFO if kind == "idle" else logging.WARNING, "TCP: %s", text)
            counts = self._episodes[kind] = [0, 0]
        counts[0] += 1
        counts[1] += closed

    def _end_episodes(self) -> None:
        for kind, (events, closed) in self._episodes.items():
            what = f"{closed} connections closed" if closed else f"{events} refused"
            level = logging.INFO if kind == "idle" else logging.WARNING
            log.log(level, "TCP: %s episode over (%s)", _KIND_NAMES[kind], what)
        self._episodes.clear()


_KIND_NAMES = {
    "per_source": "per-source limit",
    "full": "connection limit",
    "evict": "connection limit",
    "slow": "slow message",
    "silent": "silent connection",
    "idle": "idle connection",
    "sendq": "peers not reading",
}


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0
