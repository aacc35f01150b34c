"""One worker's part in ``--workers N``: what :class:`~kamtool.proxy.server.ProxyServer`
gives its parts when it builds them, and calls at the points of its start and stop where
a worker differs from a lone proxy.

* :meth:`WorkerRuntime.open` (first): the channel to the other workers and the
  listeners the parts are built with: :attr:`~WorkerRuntime.location` (the location
  store's ``shared``, without Redis), :attr:`~WorkerRuntime.dispatcher_states` (the
  dispatcher's), :attr:`~WorkerRuntime.directory` (the transports' ``remote``), and
  :meth:`~WorkerRuntime.switch`, the transports' sink;
* :meth:`WorkerRuntime.install` (the parts exist, nothing is bound): each listener is
  given the part the others' changes go to; the owner mark in branches and
  Record-Routes; dialog ids of this worker's own range;
* :meth:`WorkerRuntime.started` (everything listens): the RPC link; a restarted worker
  tells the others, copies the registrations worker 0 holds and carries on its dead
  predecessor's counts (:mod:`.kept_counters`);
* :meth:`WorkerRuntime.close`.

The ``workers`` statistics group counts, per worker, the messages it received from the
network, passed to their owner, and took from the others (``stats.fetch workers.`` over
JSON-RPC sums them); ``core.workers`` lists each worker's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from kamtool.proxy.workers import WorkerContext
from kamtool.proxy.workers.channel import HELLO, Channel
from kamtool.proxy.workers.kept_counters import KeptCounters
from kamtool.proxy.workers.relay import ConnectionDirectory, OwnerSwitch
from kamtool.proxy.workers.rpc_link import RpcLink, WorkerUnavailable
from kamtool.proxy.workers.shared_dispatcher import SharedDispatcher
from kamtool.proxy.workers.shared_limits import SharedLimits
from kamtool.proxy.workers.shared_location import SharedLocation

log = logging.getLogger(__name__)

ID_BLOCK = 1 << 24  # each worker's dialog h_ids and WebSocket ids come from their own range


class WorkerRuntime:
    """See module docstring. ``restarted``: this process replaces a worker that died."""

    def __init__(self, ctx: WorkerContext, *, restarted: bool = False) -> None:
        self.ctx = ctx
        self.restarted = restarted
        self.channel: Channel | None = None
        self.location: SharedLocation | None = None
        self.dispatcher_states: SharedDispatcher | None = None
        self.directory: ConnectionDirectory | None = None
        self.limits: SharedLimits | None = None
        self._switch: OwnerSwitch | None = None
        self.link = RpcLink(ctx)
        self.stats: Any = None
        self.kept: KeptCounters | None = None
        self._timers: Any = None

    @property
    def runs_timers(self) -> bool:
        return self.ctx.runs_timers

    @property
    def id_base(self) -> int:
        """Where this worker's dialog ``h_id`` and WebSocket connection ids start
        (``DialogTracker(id_base=)``, ``Transports(ws_id_base=)``): ``dlg.end_dlg`` and
        ``ws.close`` name one dialog or connection among all the workers'."""
        return self.ctx.index * ID_BLOCK

    def open(self, loop: asyncio.AbstractEventLoop, config: Any) -> None:
        """The channel, and the listeners the server's parts are built with."""
        self.channel = channel = Channel(self.ctx, loop)
        # with [proxy] state (Redis) the state backend shares registrations; db_mode 3
        # shares them through the table itself
        if config.db_mode != 3 and not getattr(config, "state", ""):
            self.location = SharedLocation(channel)
            self.link.internal["workers.location"] = self.location.snapshot
        self.dispatcher_states = SharedDispatcher(channel)
        self.directory = ConnectionDirectory(channel)
        # with Redis the state backend shares profile counts and bans across every node
        if not getattr(config, "state", ""):
            # (kamtool's authfail too: one host's workers count a source's failed
            # authentications together, as Kamailio's shared-memory htable does)
            tables = tuple(dict.fromkeys((*config.shared_tables, "authfail")))
            self.limits = SharedLimits(channel, loop, tables)
            self.link.internal["workers.limits"] = self.limits.snapshot
        channel.on(HELLO, self._hello)
        self.link.internal["workers.row"] = self.row

    def _hello(self, data: bytes) -> None:
        """Worker ``data[0]`` (re)started: what it held went with its old process."""
        if self.directory is not None:
            self.directory.restarted(data[0])
        if self.limits is not None:
            self.limits.forget(data[0])

    def switch(self, sink: Any, listens: tuple) -> OwnerSwitch:
        """The transports' sink: ``sink`` for what this worker owns, the owner otherwise;
        ``listens``: the server's listeners, in the same order in every worker."""
        assert self.channel is not None
        self._switch = OwnerSwitch(self.channel, sink, listens)
        return self._switch

    def install(self, server: Any) -> None:
        """The server's parts exist (nothing is bound): connect the listeners to them."""
        assert self.channel is not None and self._switch is not None
        self._switch.serve(server.transports)
        if self.directory is not None:
            self.directory.serve(server.transports)
        if self.location is not None and server.usrloc is not None:
            self.location.serve(server.usrloc)
        if self.dispatcher_states is not None and server.dispatcher is not None:
            self.dispatcher_states.serve(server.dispatcher)
        if self.limits is not None:
            self.limits.serve(server.parts.htables, server.parts.dialogs)
        self.stats = stats = server.stats
        self.kept, self._timers = KeptCounters(self.ctx, stats), server.timers
        switch, channel = self._switch, self.channel
        for name in ("received", "forwarded", "taken"):
            stats.gauge("workers", name, lambda n=name: getattr(switch, n))
        stats.gauge("workers", "channel_dropped", lambda: channel.dropped)

    def row(self) -> dict[str, Any]:
        """This worker as ``core.workers`` lists it."""
        sw, ch = self._switch, self.channel
        return {
            "index": self.ctx.index,
            "pid": os.getpid(),
            "received": sw.received if sw else 0,
            "forwarded": sw.forwarded if sw else 0,
            "taken": sw.taken if sw else 0,
            "channel_dropped": ch.dropped if ch else 0,
            "contact_copies": self.location.copies_in if self.location else 0,
            "remote_connections": len(self.directory.holders) if self.directory else 0,
            # what it routed as the owner: proof of the kernel's spreading in tests
            **{
                f"rcv_requests_{m}": (self.stats.value("core", f"rcv_requests_{m}") or 0)
                for m in ("invite", "register", "cancel", "ack", "bye")
            },
        }

    async def started(self) -> None:
        """Everything listens: open the RPC link; a replacement worker catches up."""
        if self.kept is not None:  # (before the link: no answer counts without them)
            if self.restarted and (n := self.kept.resume()):
                log.info("worker %d: %d counters carried over", self.ctx.index, n)
            self.kept.start(self._timers)
        await self.link.start()
        if self.channel is not None:
            self.channel.broadcast(HELLO, bytes((self.ctx.index,)), expected=True)
        if self.restarted and self.location is not None:
            for index in self.ctx.others:
                try:
                    answer = await self.link.call(index, "workers.location", [])
                except WorkerUnavailable:
                    continue
                n = self.location.load_snapshot(answer.get("result") or [])
                log.info("worker %d: %d contacts copied from worker %d", self.ctx.index, n, index)
                break
        if self.restarted and self.limits is not None:
            for index in self.ctx.others:  # every one's dialogs; the bans from any
                try:
                    answer = await self.link.call(index, "workers.limits", [])
                except WorkerUnavailable:
                    continue
                if isinstance(answer.get("result"), dict):
                    self.limits.load_snapshot(answer["result"])

    async def close(self) -> None:
        if self.kept is not None:
            self.kept.stop()
        await self.link.close()
        if self.channel is not None:
            self.channel.close()
