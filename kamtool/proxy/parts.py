"""The parts of one running proxy, as :mod:`kamtool.proxy.wiring` built them.

Plain data (no behaviour): the route script's ``KSR`` functions reach the step that owns
their work through it (``ctx.parts.registrar``, ``ctx.parts.sl`` ...), and the RPC server
reads the proxy's state from it. Nothing is set on it after it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Parts:
    """One proxy's modules (see :func:`kamtool.proxy.wiring.build_parts`)."""

    config: Any  # ProxyConfig
    timers: Any  # TimerHeap
    stats: Any  # Statistics
    codec: Any  # Codec: reads and builds SIP messages
    myself: Any  # Myself: is_myself, local domains
    wire: Any  # Wire: sockets and sending
    counters: Any  # sl.CoreCounters
    sl: Any  # sl.StatelessReplies
    tm: Any  # tm.TransactionLayer
    branches: Any  # relay.BranchBuilder: tm's build of each branch
    replies: Any  # response.ReplyStep: replies to their transaction
    dialogs: Any  # dialogs.DialogTracker
    dialog_steps: Any  # dialog_steps.DialogSteps
    call_limits: Any  # call_limits.CallLimits
    flood: Any  # flood.FloodGuard
    usrloc: Any  # usrloc.LocationStore
    registrar: Any  # registrar.Registrar
    auth: Any  # auth.Authenticator
    nat: Any  # nat.NatHelper
    htables: Any  # htable store: ipban, kv ...
    pike: Any = None  # pike.Pike, None when disabled
    database: Any = None  # the proxy's database (read by the worker)
    db: Any = None  # dbworker.DbWorker, None: database work inline
    permissions: Any = None  # tables.AddressTable
    domains: Any = None  # tables.DomainTable
    dispatcher: Any = None  # dispatcher.Dispatcher
    prober: Any = None  # probe.Prober: the dispatcher's keepalives
    rules: Any = None  # rule_tables.RuleTables: dialplan, mtree
    aliases: Any = None  # aliases.AliasLookup: alias_db
    overload: Any = None  # overload.OverloadGuard, None when off
    rtpengine: Any = None  # rtpengine.RtpEngine, None when not configured
    uacreg: Any = None  # uacreg.UacRegistrar, None without the table

    @property
    def transports(self) -> Any:
        """The sockets (``KSR.websocket``, ``ws.*``)."""
        return self.wire.transports
