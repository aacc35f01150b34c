"""The JSON-RPC server of a running ``kamtool serve``, over the proxy's own state.

``kamtool serve`` hands :func:`start_proxy_rpc` to the proxy
(``ProxyServer(config, rpc=start_proxy_rpc)``), which calls it once its parts exist: the
methods read and change the routing state itself (usrloc, dialogs, dispatcher, tables,
htables, pike), so ``rpc`` imports ``proxy``'s state and never the other way. Here too:
the methods that read whole tables or need usrloc's rows run on the proxy's database
worker, never on the loop, and ``app_python.reload`` reloads a route script.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import Any

from kamtool.errors import ConfigError
from kamtool.proxy.config import parse_host_port
from kamtool.proxy.dbworker import DatabaseDown, connection_errors
from kamtool.proxy.tm_cfg import proxy_cfg
from kamtool.rpc.methods import Registry, RpcFault
from kamtool.rpc.methods.build import build_registry
from kamtool.rpc.metrics import metrics_endpoint, workers_metrics_endpoint
from kamtool.rpc.server import RpcServer

log = logging.getLogger(__name__)

# the RPC methods that read whole tables: run on the database worker, never on the
# loop (each builds its new snapshot and swaps it in with one assignment)
OFFLOADED_RPC = (
    "permissions.addressReload",
    "permissions.trustedReload",
    "domain.reload",
    "dispatcher.reload",
    "htable.reload",
    "dialplan.reload",
    "mtree.reload",
    "lcr.reload",
)
# the RPC methods that change one AoR: in db_mode 3 they read its rows first (as a
# REGISTER does) on the worker, change memory on the loop, and answer once the worker
# wrote the change (Kamailio's db_mode 3 writes before it answers)
PREFETCHED_RPC = ("ul.add", "ul.rm", "ul.rm_contact")


async def start_proxy_rpc(server: Any, *, limits: Any = None) -> RpcServer:
    """The JSON-RPC server (HTTP + FIFO + datagram, /metrics) of ``server`` (a started
    :class:`~kamtool.proxy.server.ProxyServer`), listening; ``limits``: the health
    thresholds /metrics judges with (``[monitor]``, as ``kamtool diagnose``)."""
    cfg = server.config
    holder: list[RpcServer] = []
    registry = build_registry(
        statistics=server.stats,
        usrloc=server.usrloc,
        dialogs=server.dialogs,
        perms=server.permissions,
        domains=server.domains,
        started=server.started_at,
        sockets=lambda: [(x.proto, x.host, x.port) for x in cfg.listen],
        processes=lambda: _tasks(cfg, holder[0] if holder else None),
        dispatch=server.dispatcher,  # the routing state itself (dispatcher.list/set_state)
        database=server.database,
        htables=server.htables,
        flood=server.pike,
        tracer=server.hep,  # siptrace.status, siptrace.dest_add / dest_rm
        rules=server.rules,  # dialplan.*, mtree.*, lcr.*
        lcr_count=cfg.lcr_count,
        cfg=proxy_cfg(server.tm),  # cfg.seti tm fr_inv_timer: the live transaction layer
    )
    if getattr(server, "uacreg", None) is not None:
        from kamtool.rpc.methods import uac

        uac.register(registry, server.uacreg)  # uac.reg_* (kamtool/proxy/uacreg.py)
    _offload(server, registry)
    _edge_methods(server, registry)
    from kamtool.rpc.methods import transport

    transport.register(registry, server.transports, cfg,
                       tls=any(lst.proto == "tls" for lst in cfg.listen))  # fmt: skip
    if server.engine is not None:
        # Kamailio 5.6's app_python3 registers its RPC as app_python.*; app_python3.* too
        for name in ("app_python.reload", "app_python3.reload"):
            registry.add(
                name, partial(_reload_route, server.engine.script),
                "Reload the route script (transactions and dialogs in flight go on).",
            )  # fmt: skip
    shared = dict(usrloc=server.usrloc, dispatcher=server.dispatcher,
                  started=server.started_at, limits=limits)  # fmt: skip
    if getattr(server, "worker", None) is not None:  # --workers N
        from kamtool.rpc.server.workers import NotListening, join_workers

        if not join_workers(server, registry):
            return NotListening()  # type: ignore[return-value]
        # worker 0 answers /metrics for all: counters summed as stats.get_statistics
        metrics = workers_metrics_endpoint(registry.call, **shared)
    else:
        metrics = metrics_endpoint(server.stats, dialogs=server.dialogs, **shared)
    host, port = parse_host_port(cfg.rpc_listen)
    rpc = RpcServer(
        registry,
        host,
        port,
        token=cfg.rpc_token,
        runtime_dir=cfg.rpc_runtime_dir,
        metrics=metrics,
        server_header=cfg.server_header,
    )
    await rpc.start()
    holder.append(rpc)
    return rpc


def _edge_methods(server: Any, registry: Registry) -> None:
    """``ws.*`` with ws:/wss: listeners, ``rtpengine.*`` with RTPEngines (issue #18)."""
    if any(lst.proto in ("ws", "wss") for lst in server.config.listen):
        from kamtool.rpc.methods import ws

        ws.register(registry, server.transports.ws)
    engines = server.rtpengine
    if engines is not None:
        from kamtool.rpc.methods import rtpengine

        rtpengine.register(registry, engines)


def _reload_route(engine: Any) -> dict[str, int]:
    """app_python.reload: the script loaded again; a broken one is refused (the running
    script stays) with the error's file:line."""
    before = engine.reloads
    try:
        engine.reload()
    except ConfigError as exc:
        raise RpcFault(500, f"Reload failed: {exc}") from exc
    log.info("route script %s reloaded", engine.script.path)
    return {"old": before, "new": engine.reloads}


def _offload(server: Any, registry: Registry) -> None:
    """Replace the reload methods of ``registry`` by ones that run on the worker (while
    the database is known to be away they fail at once, with a 500); ul.flush and, in
    db_mode 3, the usrloc changes wait for the worker's write."""
    worker = server.db
    ul = server.usrloc

    def offloaded(fn: Any) -> Any:
        async def run(*args: Any) -> Any:
            try:
                return await worker.run(partial(fn, *args))
            except DatabaseDown as exc:
                raise RpcFault(500, "Database unavailable") from exc

        return run

    names = list(OFFLOADED_RPC)
    if ul is not None and ul.db_mode == 3:
        names += ["ul.dump", "ul.lookup"]  # they read the table: reads only, any thread
    for name in names:
        method = registry.get(name)
        if method is not None:
            registry.methods[name] = replace(method, fn=offloaded(method.fn))

    async def ul_flush() -> None:
        """ul.flush: usrloc's pending changes, written by the worker now."""
        if ul is None or not (ul.write_back or ul.db_mode == 3):
            return
        await _write_usrloc_now(server)

    flush = registry.get("ul.flush")
    if flush is not None:
        registry.methods["ul.flush"] = replace(flush, fn=ul_flush)
    if ul is not None and ul.db_mode == 3:
        for name in PREFETCHED_RPC:
            method = registry.get(name)
            if method is not None:
                registry.methods[name] = replace(method, fn=_prefetching(server, method.fn))


def _prefetching(server: Any, fn: Any) -> Any:
    """``fn(table, aor, ...)`` run with the rows of ``aor`` read ahead on the worker."""

    async def run(table: str, aor: str, *args: Any) -> Any:
        ul, worker = server.usrloc, server.db
        own = ul.needs_fetch(aor)  # else a request in flight read it: its rows are current
        if own:
            try:
                rows = await worker.run(partial(ul.fetch, aor))
            except (DatabaseDown, *connection_errors()) as exc:
                raise RpcFault(500, "Database unavailable") from exc
            ul.prefetched(aor, rows)
        try:
            result = fn(table, aor, *args)
        finally:
            if own:
                ul.prefetched(aor, None)
        await _write_usrloc_now(server)
        return result

    return run


async def _write_usrloc_now(server: Any) -> None:
    """Write usrloc's pending changes on the worker and wait for it; RpcFault 500 when
    the database is away (the changes stay pending: nothing is lost)."""
    ul, worker = server.usrloc, server.db
    batch = ul.take_pending()
    if not batch:
        return
    try:
        await worker.run(partial(ul.write_batch, batch), force=True)
    except Exception as exc:
        ul.batch_written(batch, exc)
        raise RpcFault(500, "Database unavailable") from exc
    ul.batch_written(batch, None)


def _tasks(cfg: Any, rpc: RpcServer | None) -> list[str]:
    """``core.ps``: what Kamailio runs as processes runs here as tasks of one loop;
    named as Kamailio names them, so ``kamtool ps`` reads the same on both."""
    tasks = [f"{x.proto} receiver sock={x.host}:{x.port}" for x in cfg.listen]
    tasks.append("timer")
    if rpc is not None:
        tasks.append(f"JSONRPCS HTTP sock={rpc.host}:{rpc.port}")
        if rpc.fifo is not None:
            tasks.append("JSONRPCS FIFO")
        if rpc.dgram is not None:
            tasks.append("JSONRPCS DATAGRAM")
    return tasks
