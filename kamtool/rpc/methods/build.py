"""One call that assembles the full method table from whatever state the proxy has."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kamtool.proxy.cfg import CfgStore, default_cfg
from kamtool.proxy.htable import HtableStore, default_store
from kamtool.proxy.stats import Statistics
from kamtool.rpc.methods import (
    Registry,
    core,
    dispatcher,
    dlg,
    htable,
    permissions,
    pike,
    siptrace,
    stats,
    ul,
)
from kamtool.rpc.methods import cfg as cfg_methods
from kamtool.rpc.methods import server as server_methods

__all__ = ["build_registry", "table_from_db"]

log = logging.getLogger(__name__)


def build_registry(
    *,
    statistics: Statistics,
    usrloc: ul.Usrloc | None = None,
    dialogs: dlg.Dialogs | None = None,
    dispatch: dispatcher.Dispatcher | None = None,
    perms: permissions.Permissions | None = None,
    domains: permissions.Domains | None = None,
    htables: HtableStore | None = None,
    cfg: CfgStore | None = None,
    flood: pike.Pike | None = None,
    tracer: siptrace.Tracer | None = None,
    rules: Any = None,
    started: float | None = None,
    processes: Callable[[], Sequence[str]] | None = None,
    sockets: Callable[[], Sequence[tuple[str, str, int]]] | None = None,
    profiles: Iterable[str] | Callable[[], Iterable[str]] = dlg.DEFAULT_PROFILES,
    make_binding: Callable[..., Any] | None = None,
    database: Any = None,
    lcr_count: int | None = None,
) -> Registry:
    """A :class:`Registry` with ``system.*``, ``core.*``, ``stats.*``/``sl``/``tm``,
    ``htable.*``, ``cfg.*``, ``pike.*``, and the ``ul``/``dlg``/``dispatcher``/
    ``permissions``/``domain``/``siptrace`` (``tracer``) methods for each object given (left
    out when None, so ``system.listMethods`` shows only what works).

    With ``database`` (a peewee database), objects not given are made from it:
    :mod:`kamtool.rpc.methods.dbtables` snapshots of ``address``/``trusted``, ``domain``
    and ``dispatcher`` (each skipped with a warning when its table cannot be read) and the
    ``kv`` hash table from ``htable``. Pass your own instances when the proxy's routing
    must see the same tables (``AddressTable.allows`` for trusted sources).
    """
    if database is not None:
        from kamtool.rpc.methods import dbtables

        if htables is None:
            htables = default_store(database)
        perms = perms if perms is not None else table_from_db(dbtables.AddressTable, database)
        domains = domains if domains is not None else table_from_db(dbtables.DomainTable, database)
        dispatch = (
            dispatch if dispatch is not None else table_from_db(dbtables.DispatcherTable, database)
        )
    reg = Registry()
    modules = ["kamtool", "sl", "tm", "stats", "htable", "cfg", "pike"]
    core.register(reg, started=started, processes=processes, sockets=sockets, modules=modules)
    stats.register(reg, statistics)
    htable.register(reg, htables if htables is not None else default_store())
    cfg_methods.register(reg, cfg if cfg is not None else default_cfg())
    pike.register(reg, flood)
    server_methods.register(reg, statistics)
    if usrloc is not None:
        ul.register(reg, usrloc, make_binding=make_binding)
        modules.append("usrloc")
    if dialogs is not None:
        dlg.register(reg, dialogs, profiles=profiles)
        modules.append("dialog")
    if dispatch is not None:
        dispatcher.register(reg, dispatch)
        modules.append("dispatcher")
    if perms is not None:
        permissions.register(reg, perms)
        modules.append("permissions")
    if domains is not None:
        permissions.register_domain(reg, domains)
        modules.append("domain")
    if tracer is not None:
        siptrace.register(reg, tracer)
        modules.append("siptrace")
    if rules is not None:  # kamtool.proxy.rule_tables.RuleTables: dialplan, mtree, lcr
        from kamtool.rpc.methods import lcr as lcr_methods
        from kamtool.rpc.methods import rules as rule_methods

        rule_methods.register(reg, rules)
        lcr_methods.register(reg, rules, lcr_count)
        modules += ["dialplan", "mtree", "lcr"]
    return reg


def table_from_db(factory: Callable[[Any], Any], database: Any) -> Any:
    """``factory(database)``, or None (logged) when its table cannot be read."""
    from kamtool.proxy.tables import rollback

    try:
        return factory(database)
    except Exception as exc:  # missing table, database down: leave those methods out
        log.warning("RPC: %s not available: %s", factory.__name__, exc)
        rollback(database)
        return None
