"""The one place that builds a proxy's parts and wires them together.

Everything gets what it uses in its constructor (nothing is set on an object after it
is built). The transports (sockets) and the receiving end need each other: the
transports are built first, without a receiver, and every part that sends holds them
through :class:`~kamtool.proxy.wire.Wire`; the engine's ``receive`` is handed to
``Transports.bind`` when the sockets open, as asyncio hands a protocol factory to
``create_datagram_endpoint``.

:class:`~kamtool.proxy.server.ProxyServer` calls :func:`build_served` (the database-backed
tables, the sockets, the parts and the engine); tests and benchmarks call
:func:`build_proxy` with in-memory tables and fake sockets.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

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
from kamtool.proxy.reopen import fail_branches
from kamtool.proxy.response import ReplyStep
from kamtool.proxy.sl import CoreCounters, StatelessReplies
from kamtool.proxy.tm import TransactionLayer
from kamtool.proxy.wire import Wire

log = logging.getLogger(__name__)


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
    shared_state: Any = None,
    worker: Any = None,
) -> Parts:
    """The proxy's step modules over the given tables and sockets (see module docstring).
    ``uacreg``: load the ``uacreg`` table from ``database`` (upstream registrations);
    ``worker``: this process's part in ``--workers N`` (kamtool.proxy.workers.runtime);
    ``shared_state``: who shares the dialog profile counts (Redis, or the workers)."""
    codec = Codec(config, owner=worker.ctx.index if worker else None)
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
    failed = getattr(transports, "connect_failed", None)  # (a test's stand-in has none)
    if failed is not None:  # a branch whose connection cannot be opened ends at once
        failed.append(functools.partial(fail_branches, tm))
    dialogs = DialogTracker(timers, lifetime=config.dialog_lifetime, stats=stats,
                            send_bye=ByeSender(tm, wire, codec).send,
                            shared=shared_state,  # (counts of the other nodes/workers)
                            id_base=worker.id_base if worker else 0)  # fmt: skip
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
    if config.state or config.db_mode == 3:  # other hosts' bindings are theirs to ping
        nat.ours = wire.transports.listen_named
    if worker is None or worker.runs_timers:  # (--workers N: worker 0 pings for all)
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
    stats.set_value("registrar", "max_contacts", config.max_contacts)


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


class Served(NamedTuple):
    """What :func:`build_served` made: the parts, the engine, the sink to bind the
    sockets with, and the two services the server also closes."""

    parts: Parts
    engine: Engine
    sink: Any  # engine.receive, behind overload and topoh when they are on
    hep: Any  # hep.HepAgent: siptrace
    acc: Any  # acc.Accounting: the CDR writer (started)
    state: Any  # shared_state.SharedState ([proxy] state: Redis), or None


def build_served(
    config: Any,
    script: Any,
    *,
    loop: Any,
    database: Any,
    stats: Any,
    usrloc_changed: Any,
    worker: Any = None,
) -> Served:
    """A served proxy's state over ``database`` (opened): its tables loaded, the sockets
    (not bound yet), the parts and the engine running ``script``. ``usrloc_changed``:
    called after a location change outside a REGISTER's own write; ``worker``: this
    process's part in ``--workers N`` (opened: the listeners the parts share state
    through). ConfigError for a bad TLS file or RTPEngine address."""
    from kamtool.proxy.acc import Accounting
    from kamtool.proxy.aliases import AliasLookup
    from kamtool.proxy.auth import Authenticator
    from kamtool.proxy.dbworker import DbWorker
    from kamtool.proxy.dispatcher import Dispatcher
    from kamtool.proxy.hep import HepAgent
    from kamtool.proxy.rule_tables import RuleTables
    from kamtool.proxy.shared_state import shared_state_for
    from kamtool.proxy.tables import AddressTable, DomainTable
    from kamtool.proxy.timers import TimerHeap
    from kamtool.proxy.usrloc import LocationStore

    cfg = config
    timers = TimerHeap(loop)
    db = DbWorker(database, loop)
    state = shared_state_for(cfg, loop)  # [proxy] state: the stores' listener, or None
    usrloc = LocationStore(db_mode=cfg.db_mode, database=database, use_domain=cfg.use_domain,
                           server_id=cfg.server_id,
                           shared=_location_listener(cfg, state, worker),
                           expires_in_db=worker is None or worker.runs_timers)  # fmt: skip
    loaded = usrloc.load()
    if loaded:
        log.info("usrloc: loaded %d contacts", loaded)
    usrloc.hand_over(usrloc_changed)  # the loads above ran before serving
    auth = Authenticator(database, calculate_ha1=cfg.calculate_ha1,
                         nonce_expire=cfg.nonce_expire, secret=cfg.secret, qop=cfg.auth_qop,
                         nonce_count=cfg.nonce_count, one_time_nonce=cfg.one_time_nonce,
                         deferred=True, db_down=lambda: db.down)  # fmt: skip
    permissions = AddressTable(database, load=False)
    permissions.load()
    domains = DomainTable(database, cfg.local_names, load=False)
    domains.load()
    if cfg.served_domain:
        domains.record_if_empty(cfg.served_domain)
    # who hears of profile counts and shared bans: Redis, else the other workers
    limits = state if state is not None else (worker.limits if worker else None)
    htables = default_store(database, ipban_autoexpire=cfg.ipban_autoexpire,
                            authfail_autoexpire=cfg.auth_fail_window, extra=cfg.htables,
                            on_change=limits.ht_changed if limits else None,
                            shared=limits.tables if limits else ())  # fmt: skip
    dispatcher = Dispatcher(database, cfg.dispatcher_settings, load=False,
                            shared=worker.dispatcher_states if worker else None)  # fmt: skip
    dispatcher.load()
    rules = RuleTables(database, char_list=cfg.mt_char_list)
    rules.load()
    acc = Accounting(database)
    acc.start()
    overload = None
    if cfg.overload:
        from kamtool.proxy.overload import OverloadGuard

        overload = OverloadGuard(stats, max_age=cfg.overload_max_age,
                                 retry_after=cfg.overload_retry_after)  # fmt: skip
    rtpengine = None
    if cfg.rtpengine:
        from kamtool.proxy.rtpengine import RtpEngine

        rtpengine = RtpEngine(cfg.rtpengine)  # KSR.rtpengine (ConfigError)
    topoh = None  # topoh's hooks, or topos' (the same two: inbound, outbound)
    if cfg.topoh:
        from kamtool.proxy.topoh import hooks_for

        topoh = hooks_for(cfg, Myself(cfg, domains).is_myself)
    elif cfg.topos:
        from kamtool.proxy.topos import hooks_for as topos_hooks

        topoh = topos_hooks(cfg, Myself(cfg, domains).is_myself, db, database)
    transports = _transports(cfg, loop, stats, topoh, worker)
    hep = HepAgent(cfg.hep or None, capture_id=cfg.hep_capture_id,
                   auth_key=cfg.hep_auth_key or None, trace_on=cfg.hep_trace_on,
                   transports=transports)  # fmt: skip
    parts = build_parts(
        cfg, timers=timers, stats=stats, transports=transports, usrloc=usrloc, auth=auth,
        database=database, db=db, permissions=permissions, domains=domains,
        htables=htables, dispatcher=dispatcher, accounting=acc,
        aliases=AliasLookup(database), overload=overload, rules=rules,
        rtpengine=rtpengine, uacreg=True, shared_state=limits, worker=worker,
    )  # fmt: skip
    if state is not None:  # (started by the server, before the sockets open)
        state.attach(usrloc=usrloc, htables=htables, dialogs=parts.dialogs)
    engine = build_engine(parts, script)
    sink = engine.receive if overload is None else overload.wrap(engine.receive)
    if worker is not None:  # what another worker owns goes to it (read unmasked: topoh's)
        sink = worker.switch(sink, cfg.listen)
    if topoh is not None:
        sink = topoh.inbound(sink)  # outermost: the core sees every message unmasked
    return Served(parts, engine, sink, hep, acc, state)


def _location_listener(cfg: Any, state: Any, worker: Any) -> Any:
    """Who hears of the location store's changes: the Redis state ([proxy] state), else
    the other workers (--workers N); nobody in db_mode 3 (the table is shared)."""
    if cfg.db_mode == 3:
        return None
    if state is not None:
        return state
    return worker.location if worker is not None else None


def _transports(cfg: Any, loop: Any, stats: Any, topoh: Any, worker: Any = None) -> Any:
    """The sockets (unbound): TLS contexts (ConfigError when a file is missing or bad),
    TCP/TLS limits, topoh's outbound filter, the ws:/wss: Origin allow-list; with
    ``worker``, shared with the other workers (SO_REUSEPORT, their connections)."""
    from kamtool.proxy.tcplimits import TcpGuard
    from kamtool.proxy.transport import Transports

    tls = None
    if any(lst.proto in ("tls", "wss") for lst in cfg.listen):
        from kamtool.proxy.tls import tls_contexts

        tls = tls_contexts(cfg)
    ws_policy = None
    websocket = any(lst.proto in ("ws", "wss") for lst in cfg.listen)
    if websocket:
        from kamtool.proxy.ws import WsPolicy

        origins = tuple(o.strip() for o in cfg.ws_origins.split(",") if o.strip())
        ws_policy = WsPolicy(origins=origins, server=cfg.server_header)
    transports = Transports(loop, tls=tls, guard=TcpGuard.from_config(cfg, stats),
                            out_filter=topoh.outbound if topoh is not None else None,
                            ws_policy=ws_policy, reuse_port=worker is not None,
                            remote=worker.directory if worker else None,
                            ws_id_base=worker.id_base if worker else 0)  # fmt: skip
    if websocket:
        from kamtool.proxy.ws import KAMAILIO_STAT_NAMES

        for name in KAMAILIO_STAT_NAMES:
            stats.gauge("websocket", name, lambda n=name: transports.ws.stat(n))
    return transports
