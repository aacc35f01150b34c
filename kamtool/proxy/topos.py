"""Topology stripping in ``kamtool serve`` (``[proxy] topos = true``): Kamailio's topos
module, on the raw messages the core receives and sends, whatever the route does.

The same two hooks as topoh (:mod:`kamtool.proxy.topoh`): every message received is
parsed and handed to :meth:`~kamtool.sip.topos.TopoStrip.received` (with the socket it
came in on) before the core sees it, and every message sent goes through
:meth:`~kamtool.sip.topos.TopoStrip.sent` on its way to the socket. Retransmissions go
through again and come out the same: the records are keyed by branch and dialog.
The records themselves and their rules are sans-IO in :mod:`kamtool.sip.topos`.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from kamtool.sip.errors import ParseError
from kamtool.sip.parser import is_keepalive, parse_message
from kamtool.sip.topos import DIALOG_EXPIRE, Socket, TopoStrip

__all__ = ["ToposHooks", "hooks_for"]

log = logging.getLogger(__name__)

Sink = Callable[[Any, Any, tuple[str, int]], None]
PURGE_EVERY = 10.0  # seconds between sweeps of expired records
CLEAN_EVERY = 300.0  # seconds between deletions of expired topos_d rows


def _socket_of(endpoint: Any) -> Socket:
    """The (host, port, transport) of the listener ``endpoint`` belongs to."""
    listen = getattr(endpoint, "listen", None)
    proto = str(getattr(endpoint, "proto", "udp")).lower()
    if listen is None:
        return ("127.0.0.1", 5060, proto)
    return (listen.host, listen.port, proto)


class ToposHooks:
    """The two hooks over one :class:`TopoStrip` (and its ``topos_d`` store, if any)."""

    def __init__(self, ts: TopoStrip, clock: Callable[[], float] = time.monotonic,
                 store: Any = None) -> None:  # fmt: skip
        self.ts = ts
        self.clock = clock
        self._swept = self._cleaned = clock()
        self.store = store  # kamtool.proxy.topos_db.ToposStore
        if store is not None:
            ts.on_save, ts.on_drop = store.save, store.drop

    def _sweep(self, now: float) -> None:
        if now - self._swept >= PURGE_EVERY:
            self._swept = now
            self.ts.purge(now)
        if self.store is not None and now - self._cleaned >= CLEAN_EVERY:
            self._cleaned = now
            cutoff = datetime.datetime.now() - datetime.timedelta(seconds=DIALOG_EXPIRE)
            self.store.clean(cutoff)

    def inbound(self, sink: Sink) -> Sink:
        """``sink`` seeing every message with what topos took out put back (bytes of a
        datagram parsed first; one that does not parse goes on as it came)."""

        def receive(data: Any, endpoint: Any, addr: tuple[str, int]) -> None:
            msg = data
            if isinstance(data, bytes | bytearray):
                try:
                    msg = parse_message(bytes(data))
                except ParseError:
                    sink(data, endpoint, addr)
                    return
            if isinstance(msg, ParseError):
                sink(msg, endpoint, addr)
                return
            uuid = self.ts.missing(msg) if self.store is not None else None
            if uuid is None:
                deliver(msg, endpoint, addr)
                return

            def found(dlg: Any) -> None:  # back from the database, on the loop
                if dlg is not None:
                    self.ts.load(dlg)
                try:
                    deliver(msg, endpoint, addr)
                except Exception:  # the core must never take the worker's callback down
                    log.exception("topos: error handling a message from %s:%s", *addr)

            self.store.fetch(uuid, self.clock(), found)

        def deliver(msg: Any, endpoint: Any, addr: tuple[str, int]) -> None:
            try:
                self.ts.received(msg, _socket_of(endpoint), self.clock())
            except ParseError as exc:  # a header topos must read is broken
                log.info("topos: %s:%s: %s", addr[0], addr[1], exc)
            sink(msg, endpoint, addr)

        return receive

    def outbound(self, data: bytes) -> bytes:
        """``data`` as it must leave: stripped of the other side's topology."""
        if is_keepalive(data):
            return data
        now = self.clock()
        self._sweep(now)
        try:
            msg = parse_message(data)
            self.ts.sent(msg, now)
        except ParseError as exc:
            log.info("topos: not stripped, %s", exc)
            return data
        return msg.to_bytes()


def hooks_for(cfg: Any, own: Callable[[Any], bool], db: Any, database: Any) -> ToposHooks:
    """The hooks of ``cfg``'s topos settings (``own``: the proxy's ``is_myself``; ``db``
    and ``database``: the worker and connection of ``topos_storage = "db"``): the wiring
    wraps the sink the core receives through in :meth:`ToposHooks.inbound` and gives the
    transports :meth:`ToposHooks.outbound` as the filter of every send."""
    store = None
    if cfg.topos_storage == "db":
        from kamtool.proxy.topos_db import ToposStore

        store = ToposStore(db, database)
    return ToposHooks(TopoStrip(own), store=store)
