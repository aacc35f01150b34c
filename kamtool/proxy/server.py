"""ProxyServer: bind the sockets, run the routing core, shut down gracefully.

Lifecycle::

    server = ProxyServer(config)
    await server.start()        # open DB, load usrloc, bind listeners (OSError if taken)
    ...                         # server.parts, server.usrloc, server.dialogs, server.stats
    await server.stop()         # drain in-flight transactions, flush write-back, close

:func:`run` is what ``kamtool serve`` calls: the loop (uvloop when installed), SIGINT and
SIGTERM handlers that trigger :meth:`ProxyServer.stop`, and the garbage collector settings
of a long-running server (:func:`tune_gc`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from kamtool.config import redact_url
from kamtool.errors import DatabaseUnavailable
from kamtool.proxy.config import ProxyConfig
from kamtool.proxy.stats import Statistics

log = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0  # longest wait for in-flight transactions at shutdown
EXPIRE_SLICE = 1000  # expired contacts dropped per loop iteration


# A server that stops answering on an open connection (a cable pulled, a frozen VM)
# must fail the proxy's statement, not hang its database thread: the drivers wait
# forever by default. Seconds; the statements are single rows and small batches.
DB_IO_TIMEOUT = 10


def open_proxy_database(url: str) -> Any:
    """Open the proxy's database; a new or empty SQLite file gets Kamailio's tables.
    Connections made later (the database worker's) give up on a silent server after
    ``DB_IO_TIMEOUT`` seconds."""
    from kamtool.db import schema
    from kamtool.db.connect import existing_tables, open_database, parse_url

    db = open_database(url)
    engine = parse_url(url).engine
    if engine == "mysql":
        db.connect_params.update(read_timeout=DB_IO_TIMEOUT, write_timeout=DB_IO_TIMEOUT)
    elif engine == "postgres":  # libpq: unacknowledged data, then idle-connection probes
        db.connect_params.update(
            tcp_user_timeout=DB_IO_TIMEOUT * 1000,
            keepalives=1,
            keepalives_idle=DB_IO_TIMEOUT,
            keepalives_interval=2,
            keepalives_count=3,
        )
    if engine == "sqlite" and "location" not in existing_tables(db):
        from kamtool.db.ddl import create_tables

        if not existing_tables(db):
            create_tables(db, schema.GROUP_NAMES)
    return db


class ProxyServer:
    """The embedded SIP proxy (see module docstring). State objects for the RPC server:

    * ``usrloc``: :class:`~kamtool.proxy.usrloc.LocationStore`
    * ``dialogs``: :class:`~kamtool.proxy.dialogs.DialogTracker`
    * ``tm``: :class:`~kamtool.proxy.tm.TransactionLayer` (``stats()`` for tm.stats)
    * ``stats``: :class:`~kamtool.proxy.stats.Statistics`
    * ``permissions``/``domains``: :mod:`kamtool.proxy.tables` (address, trusted, domain)
    * ``dispatcher``: :class:`~kamtool.proxy.dispatcher.Dispatcher` (sets, states, probing)
    * ``acc``: :class:`~kamtool.proxy.acc.Accounting` (CDR writer)
    * ``started_at``: unix time of start (core.uptime)
    """

    def __init__(
        self,
        config: ProxyConfig,
        *,
        database: Any = None,
        stats: Statistics | None = None,
        rpc: Callable[[ProxyServer], Awaitable[Any]] | None = None,
        worker: Any = None,
    ) -> None:
        self.config = config
        # --workers N: this process's WorkerRuntime (kamtool.proxy.workers.runtime); None alone
        self.worker = worker
        # builds the JSON-RPC server over this proxy's state once it started (kamtool serve
        # passes kamtool.rpc.server.proxy.start_proxy_rpc); None: no RPC server
        self._rpc_factory = rpc
        self.database = database
        self.stats = stats or Statistics()
        self.started_at = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.parts: Any = None  # kamtool.proxy.parts.Parts: the step modules and tables
        self.engine: Any = None  # kamtool.proxy.engine.Engine: receives every message
        self.rpc: Any = None
        self.acc: Any = None  # Accounting (kamtool.proxy.acc): the CDR writer
        self.hep: Any = None  # HepAgent (kamtool.proxy.hep): siptrace
        self._stopped: asyncio.Event | None = None
        self._stopping = False
        self._ul_timer: Any = None
        self.db: Any = None  # DbWorker: the database work of routing and RPC reloads
        self._ul_flushing = False
        self.state: Any = None  # SharedState (kamtool.proxy.shared_state): [proxy] state

    @property
    def dialogs(self) -> Any:
        return self.parts.dialogs if self.parts else None

    @property
    def tm(self) -> Any:
        return self.parts.tm if self.parts else None

    @property
    def pike(self) -> Any:
        return self.parts.pike if self.parts else None

    @property
    def rtpengine(self) -> Any:
        return self.parts.rtpengine if self.parts else None

    # the state the RPC server and the tests read, as kamtool.proxy.wiring built it
    timers = property(lambda self: self.parts.timers if self.parts else None)
    transports = property(lambda self: self.parts.transports if self.parts else None)
    usrloc = property(lambda self: self.parts.usrloc if self.parts else None)
    permissions = property(lambda self: self.parts.permissions if self.parts else None)
    domains = property(lambda self: self.parts.domains if self.parts else None)
    htables = property(lambda self: self.parts.htables if self.parts else None)
    dispatcher = property(lambda self: self.parts.dispatcher if self.parts else None)
    rules = property(lambda self: self.parts.rules if self.parts else None)
    uacreg = property(lambda self: self.parts.uacreg if self.parts else None)

    async def start(self) -> None:
        """Open the database, build the modules (:func:`~kamtool.proxy.wiring.build_served`)
        and bind every listener."""
        from kamtool.proxy.wiring import build_served, load_route

        cfg = self.config
        script = load_route(cfg)  # first: a broken script stops the start early
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        # a restarted worker serves a service that did not stop: its uptime goes on
        self.started_at = self.worker.ctx.started if self.worker is not None else 0.0
        self.started_at = self.started_at or time.time()
        if self.database is None:
            log.info("database %s", redact_url(cfg.db_url))
            try:
                self.database = open_proxy_database(cfg.db_url)
            except Exception as exc:
                if isinstance(exc, DatabaseUnavailable):
                    raise
                raise DatabaseUnavailable(f"cannot open the database: {exc}") from exc
        worker = self.worker  # --workers N: the listeners the parts share state through
        if worker is not None:
            worker.open(self.loop, cfg)
        served = build_served(cfg, script, loop=self.loop, database=self.database,
                              stats=self.stats, usrloc_changed=self._usrloc_changed,
                              worker=worker)  # fmt: skip
        self.parts, self.engine, self.hep, self.acc, self.state = (
            served.parts, served.engine, served.hep, served.acc, served.state,
        )  # fmt: skip
        self.db = self.parts.db
        overload = self.parts.overload
        if worker is not None:
            worker.install(self)
        self.db.start()
        try:
            if self.state is not None:
                await self.state.start(self.timers)  # before serving: the snapshot
            await self.transports.bind(cfg.listen, served.sink)
            if self._rpc_factory is not None and cfg.rpc_listen:
                self.rpc = await self._rpc_factory(self)
            if worker is not None:
                await worker.started()
        except BaseException:
            await self.transports.close()
            if self.state is not None:
                await self.state.close()
            self.acc.close()
            self.db.close()
            raise
        if overload is not None:
            overload.start(self.loop, _probe_targets(self.transports))
        self._ul_timer = self.timers.call_later(cfg.timer_interval, self._usrloc_tick)
        if worker is not None and not worker.runs_timers:
            return  # probing, NAT pings, uacreg: worker 0's alone
        self.dispatcher.start(self.timers, self.parts.prober.probe)
        if self.uacreg is not None:
            self.uacreg.start()

    def _usrloc_tick(self) -> None:
        """Every ``timer_interval``: usrloc expiry/write-back, idle TCP connections,
        expired htable items."""
        assert self.usrloc is not None and self.timers is not None
        self._usrloc_expire()
        self._flush_usrloc()  # write-back, and whatever an outage left pending
        ul = self.usrloc
        if ul.deferred and ul.db_mode == 3 and self.db is not None:

            def counted(counts: Any, error: BaseException | None) -> None:
                if error is None:
                    ul.db_counts = counts

            self.db.submit(ul.count_rows, counted)
        if self.transports is not None:
            self.transports.close_idle(self.config.tcp_connection_lifetime)
        if self.htables is not None:
            self.htables.sweep()  # bans of sources that went quiet
        self._ul_timer = self.timers.call_later(self.config.timer_interval, self._usrloc_tick)

    def _usrloc_expire(self) -> None:
        """Expired contacts out, a slice per loop iteration (a mass expiry of 10,000
        contacts held the loop ~80 ms)."""
        assert self.usrloc is not None and self.timers is not None
        try:
            if self.usrloc.timer(limit=EXPIRE_SLICE):
                self.timers.call_later(0.001, self._usrloc_expire)
        except Exception:
            log.exception("usrloc timer failed")

    def _usrloc_changed(self) -> None:
        """A location change outside a REGISTER's own write (ul.add/ul.rm, expiry):
        write-through modes write it soon; db_mode 2 waits for the timer."""
        if self.usrloc is not None and self.usrloc.db_mode in (1, 3) and self.loop:
            self.loop.call_soon(self._flush_usrloc)

    def _flush_usrloc(self) -> None:
        """Hand usrloc's pending database work to the worker (one batch at a time: while
        the database is away the batch fails and everything stays pending)."""
        ul = self.usrloc
        if ul is None or self.db is None or self._ul_flushing or not ul.deferred:
            return
        batch = ul.take_pending()
        if not batch:
            return
        self._ul_flushing = True
        from kamtool.proxy.dbworker import log_db_error

        def done(_written: Any, error: BaseException | None) -> None:
            self._ul_flushing = False
            ul.batch_written(batch, error)
            if error is not None:  # (an outage is logged by the worker, once)
                log_db_error(f"usrloc: writing {len(batch)} changes", error)

        self.db.submit(partial(ul.write_batch, batch), done)

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return (signal handlers call this)."""
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self, started: Callable[[], None] | None = None) -> None:
        """Start, run until :meth:`request_stop`, then stop gracefully; ``started`` is
        called once everything listens."""
        await self.start()
        if started is not None:
            started()
        assert self._stopped is not None
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Refuse new requests, let in-flight transactions finish (up to ``drain`` s),
        flush write-back contacts and close everything."""
        if self._stopping:
            return
        self._stopping = True
        if self.engine is not None:
            self.engine.accepting = False
            deadline = time.monotonic() + drain
            while self.parts.tm.in_flight() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # shutdown only: not a protocol timer
        if self.rpc is not None:
            try:
                await self.rpc.close()
            except Exception:
                log.exception("closing the RPC server")
        if self.worker is not None:
            await self.worker.close()
        if self.parts is not None and self.parts.overload is not None:
            self.parts.overload.stop()
        if self.transports is not None:
            await self.transports.close()
        if self.hep is not None:
            self.hep.close()
        if self.parts is not None and self.parts.rtpengine is not None:
            self.parts.rtpengine.close()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.uacreg is not None:
            self.uacreg.stop()
        if self.timers is not None:
            self.timers.close()
        if self.acc is not None:  # the CDRs of the calls drained above
            await asyncio.get_running_loop().run_in_executor(None, self.acc.close)
        if self.state is not None:  # (the last changes of the drain go to Redis)
            await self.state.close()
        ul = self.usrloc
        if ul is not None and self.db is not None and (ul.write_back or ul.db_mode == 3):
            batch = ul.take_pending()  # (a batch in flight is written by the worker anyway)
            try:
                n = await self.db.run(partial(ul.write_batch, batch), force=True) if batch else 0
                log.info("usrloc: flushed %d contacts", n)
            except Exception as exc:
                log.error("usrloc: %d contacts not written at shutdown: %s", len(batch), exc)
        if self.db is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.db.close)
        if self.database is not None:
            try:
                self.database.close()
            except Exception:
                pass
        if self._stopped is not None:
            self._stopped.set()


def _probe_targets(transports: Any) -> list[tuple[str, int]]:
    """Where the overload guard's probes go: every UDP listener (a wildcard one through
    its loopback address)."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
    out = []
    for ep in transports.udp:
        host, port = ep.listen.host, ep.listen.port
        out.append((wildcard.get(host, host), port))
    return out


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed, else asyncio's (the one place that chooses)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# Garbage collector settings for a running proxy (see tune_gc). A generation's count is
# objects made minus objects freed, so the young pass comes after ~5,000 new lasting
# objects (transactions, dialogs, contacts) and walks about that many (under 1 ms), the
# middle one after 4 young passes walks ~20,000 (~4 ms; after 10, ~14 ms held calls at
# 500/s past 15 ms 14 times in 15 s: p99 16 ms, now 8); the full pass comes after the same
# number of new objects as with the (20000, 20, 20) used before, which held the loop
# 15-30 ms per young pass and 0.6-1.6 s per middle pass on this machine under load
# (bench/README.md, issue #17: p99).
GC_THRESHOLDS = (5_000, 4, 400)


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a long-running proxy.

    Every message allocates dozens of short-lived objects, so with the default threshold
    (700) the young generation is collected every few messages, and the transactions and
    dialogs in flight (tens of thousands of objects under load, kept ~32 s by Timer J/L)
    are walked again in each older-generation pass. After start-up, ``gc.freeze()`` moves
    what exists (modules, config, DB model classes) out of the collector's view for
    good, and a larger young-generation threshold makes collections rarer: they still
    happen, so reference cycles are still reclaimed. Called by :func:`run` only: a library
    user's process keeps its own settings.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(
    config: ProxyConfig,
    rpc: Callable[[ProxyServer], Awaitable[Any]] | None = None,
    worker: Any = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run a proxy until SIGINT/SIGTERM (the ``kamtool serve`` entry point); ``rpc``
    builds its JSON-RPC server (see :class:`ProxyServer`); ``worker``: this process's
    part in ``--workers N`` (:mod:`kamtool.proxy.workers`), ``ready`` called once it serves."""
    loop = new_event_loop()
    server = ProxyServer(config, rpc=rpc, worker=worker)

    def started() -> None:
        tune_gc()
        if ready is not None:
            ready()

    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.request_stop)
        loop.run_until_complete(server.serve_forever(started=started))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
