"""The one place that builds a proxy's parts and wires them together.

Everything gets what it uses in its constructor (nothing is set on an object after it
is built). The transports (sockets) and the receiving end need each other: the
transports are built first, without a receiver, and every part that sends holds them
through :class:`~kamtool.proxy.wire.Wire`; the engine's ``receive`` is handed to
``Transports.bind`` when the sockets open, as asyncio hands a protocol factory to
``create_datagram_endpoint``.

:class:`~kamtool.proxy.server.ProxyServer` calls :func:`build_parts` and :func:`build_engine`
with the database-backed tables it opened; tests and benchmarks call :func:`build_proxy`
with in-memory ones.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.call_limits import CallLimits
from kamtool.proxy.codec import Codec
from kamtool.proxy.dialog_steps import ByeSender, DialogSteps
from kamtool.proxy.dialogs import DialogTracker
from kamtool.proxy.engine import Engine
from kamtool.proxy.flood import FloodGuard
from kamtool.proxy.htable import default_store
from kamtool.proxy.myself import Myself
from kamtool.proxy.nat import NatHelper
from kamtool.proxy.parts import Parts
from kamtool.proxy.pike import Pike
from kamtool.proxy.registrar import Registrar
from kamtool.proxy.relay import BranchBuilder
from kamtool.proxy.response import ReplyStep
from kamtool.proxy.sl import CoreCounters, StatelessReplies
from kamtool.proxy.tm import TransactionLayer
from kamtool.proxy.wire import Wire


def build_parts(
    config: Any,
    *,
    timers: Any,
    stats: Any,
    transports: Any,
    usrloc: Any,
    auth: Any,
    database: Any = None,
    db: Any = None,
    permissions: Any = None,
    domains: Any = None,
    htables: Any = None,
    dispatcher: Any = None,
    accounting: Any = None,
    aliases: Any = None,
    overload: Any = None,
    rules: Any = None,
    rtpengine: Any = None,
    uacreg: bool = False,
) -> Parts:
    """The proxy's step modules over the given tables and sockets (see module docstring).
    ``uacreg``: load the ``uacreg`` table from ``database`` (upstream registrations)."""
    codec = Codec(config)
    myself = Myself(config, domains)
    wire = Wire(transports)
    counters = CoreCounters(stats)
    sl = StatelessReplies(codec, stats, counters)
    tm = TransactionLayer(
        timers,
        send=wire.send_to,
        codec=codec,
        stats=stats,
        fr_timer=config.fr_timer,
        fr_inv_timer=config.fr_inv_timer,
        t1=config.t1,
        t2=config.t2,
        t4=config.t4,
        on_final_out=accounting.on_reply if accounting is not None else None,  # acc's CDRs
    )
    dialogs = DialogTracker(timers, lifetime=config.dialog_lifetime, stats=stats,
                            send_bye=ByeSender(tm, wire, codec).send)  # fmt: skip
    htables = htables if htables is not None else default_store()
    pike = None
    if config.pike:
        pike = Pike(
            timers,
            reqs_density_per_unit=config.pike_reqs_density_per_unit,
            sampling_time_unit=config.pike_sampling_time_unit,
            remove_latency=config.pike_remove_latency,
            blocked_ips=stats.counter("pike", "blocked_ips"),
        )
    nat = NatHelper(config, codec, stats)
    prober = None
    if dispatcher is not None:
        from kamtool.proxy.probe import Prober

        prober = Prober(tm, wire, codec, dispatcher.settings)
    registrar = None
    if uacreg and database is not None:
        from kamtool.proxy.uacreg import load_uacreg

        registrar = load_uacreg(database, wire, codec, tm, timers, config, worker=db)
    parts = Parts(
        config=config, timers=timers, stats=stats, codec=codec, myself=myself, wire=wire,
        counters=counters, sl=sl, tm=tm,
        branches=BranchBuilder(codec, wire, myself, config.max_forwards),
        replies=ReplyStep(tm, codec, wire, nat, myself, counters),
        dialogs=dialogs, dialog_steps=DialogSteps(dialogs, codec, wire, myself),
        call_limits=CallLimits(config, dialogs, stats, sl),
        flood=FloodGuard(htables, pike), usrloc=usrloc,
        registrar=Registrar(config, usrloc, stats), auth=auth, nat=nat, htables=htables,
        pike=pike, database=database, db=db, permissions=permissions, domains=domains,
        dispatcher=dispatcher, prober=prober, rules=rules, aliases=aliases,
        overload=overload, rtpengine=rtpengine, uacreg=registrar,
    )  # fmt: skip
    _usrloc_statistics(stats, usrloc, config)
    nat.start_pinging(timers, usrloc, wire.send_to, wire.local_socket)
    return parts


def _usrloc_statistics(stats: Any, usrloc: Any, config: Any) -> None:
    gauge = stats.gauge
    gauge("usrloc", "registered_users", lambda: usrloc.stats()[0])
    gauge("usrloc", "location_users", lambda: usrloc.stats()[0])
    gauge("usrloc", "location_contacts", lambda: usrloc.stats()[1])
    gauge("usrloc", "location_expires", lambda: usrloc.expired_total)
    stats.set_value("registrar", "max_expires", config.max_expires)
    stats.set_value("registrar", "default_expire", config.default_expires)


def build_engine(parts: Parts, script: Any) -> Engine:
    """The receiving end running ``script`` (a :class:`~kamtool.proxy.script.RouteScript`)."""
    from kamtool.proxy.ksr.engine import ScriptEngine

    return Engine(parts, ScriptEngine(parts, script))


def build_proxy(config: Any, *, script: Any = None, **parts: Any) -> Engine:
    """:func:`build_parts` then :func:`build_engine`: ``script`` is a loaded
    :class:`~kamtool.proxy.script.RouteScript`, or None for the configured route (the
    default route without one)."""
    if script is None:
        script = load_route(config)
    return build_engine(build_parts(config, **parts), script)


def load_route(config: Any) -> Any:
    """The route script ``config`` names (``route``; None or ``"builtin"``: kamtool's
    default route); ConfigError when it is broken."""
    from kamtool.proxy.config import BUILTIN_ROUTE
    from kamtool.proxy.routes import DEFAULT_ROUTE
    from kamtool.proxy.script import load_script

    route = config.route
    return load_script(DEFAULT_ROUTE if route in (None, "", BUILTIN_ROUTE) else route)
