"""One worker's part in ``--workers N``: what :class:`~kamtool.proxy.server.ProxyServer`
calls at the points of its start and stop where a worker differs from a lone proxy.

* :meth:`WorkerRuntime.install` (the transports exist, nothing is bound): the channel,
  the owner switch in front of the router, SO_REUSEPORT, the owner mark in branches and
  Record-Routes, dialog ids of its own range, shared registrations and dispatcher states;
* :meth:`WorkerRuntime.started` (everything listens): the RPC link; a restarted worker
  tells the others and copies the registrations worker 0 holds;
* :meth:`WorkerRuntime.close`.

The ``workers`` statistics group counts, per worker, the messages it received from the
network, passed to their owner, and took from the others: ``stats.fetch workers.``
over JSON-RPC shows them summed; ``core.workers`` one row per worker.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kamtool.proxy.workers import WorkerContext
from kamtool.proxy.workers.channel import Channel
from kamtool.proxy.workers.relay import ConnectionDirectory, OwnerSwitch
from kamtool.proxy.workers.rpc_link import RpcLink, WorkerUnavailable
from kamtool.proxy.workers.shared_dispatcher import SharedDispatcher
from kamtool.proxy.workers.shared_location import SharedLocation

log = logging.getLogger(__name__)

HELLO = b"H"  # channel kind: "I (re)started", so the others forget my old connections
DIALOG_ID_BLOCK = 1 << 24  # each worker's dialogs take h_id from their own range


class WorkerRuntime:
    """See module docstring. ``restarted``: this process replaces a worker that died."""

    def __init__(self, ctx: WorkerContext, *, restarted: bool = False) -> None:
        self.ctx = ctx
        self.restarted = restarted
        self.channel: Channel | None = None
        self.switch: OwnerSwitch | None = None
        self.directory: ConnectionDirectory | None = None
        self.location: SharedLocation | None = None
        self.link = RpcLink(ctx)
        self.stats: Any = None

    @property
    def runs_timers(self) -> bool:
        return self.ctx.runs_timers

    def install(self, server: Any) -> None:
        """Hook this worker into ``server`` before it binds (see module docstring)."""
        ctx, transports, router = self.ctx, server.transports, server.router
        self.channel = channel = Channel(ctx, server.loop)
        transports.reuse_port = True
        self.directory = ConnectionDirectory(channel, transports)
        channel.on(HELLO, lambda data: self.directory.restarted(data[0]))
        self.switch = OwnerSwitch(channel, transports.sink, transports, server.config.listen)
        transports.sink = self.switch
        router.codec.mark_owner(ctx.index)
        dialogs = getattr(router, "dialogs", None)
        if dialogs is not None:
            dialogs.reserve_ids(ctx.index * DIALOG_ID_BLOCK)
        ul = server.usrloc
        # with [proxy] state (Redis) the state backend shares registrations; db_mode 3
        # shares them through the table itself
        if ul is not None and ul.db_mode != 3 and not getattr(server.config, "state", ""):
            self.location = SharedLocation(ul, channel, writes_expiry=ctx.runs_timers)
            self.link.internal["workers.location"] = self.location.snapshot
        if server.dispatcher is not None:
            SharedDispatcher(server.dispatcher, channel)
        self.link.internal["workers.row"] = self.row
        self.stats = stats = server.stats
        for name in ("received", "forwarded", "taken"):
            stats.gauge("workers", name, lambda n=name: getattr(self.switch, n))
        stats.gauge("workers", "channel_dropped", lambda: channel.dropped)

    def row(self) -> dict[str, Any]:
        """This worker as ``core.workers`` lists it."""
        sw, ch = self.switch, self.channel
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
        await self.link.start()
        if self.channel is not None:
            self.channel.broadcast(HELLO, bytes((self.ctx.index,)))
        if self.restarted and self.location is not None:
            for index in self.ctx.others:
                try:
                    answer = await self.link.call(index, "workers.location", [])
                except WorkerUnavailable:
                    continue
                n = self.location.load_snapshot(answer.get("result") or [])
                log.info("worker %d: %d contacts copied from worker %d", self.ctx.index, n, index)
                break

    async def close(self) -> None:
        await self.link.close()
        if self.channel is not None:
            self.channel.close()
