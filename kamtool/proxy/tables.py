"""In-memory snapshots of Kamailio's ``address``, ``trusted``, ``domain`` and ``dispatcher``
tables, as the permissions, domain and dispatcher modules keep them: loaded at start,
replaced on reload (``permissions.addressReload``, ``domain.reload``,
``dispatcher.reload``), never read from the database per request.

They implement the protocols the RPC methods read (``kamtool.rpc.methods.permissions``
Permissions and Domains, ``kamtool.rpc.methods.dispatcher`` Dispatcher; rpc imports them
from here, never the other way) and give the proxy what its
routing needs: ``AddressTable.allows(group, ip, port)`` (``allow_source_address``),
``DomainTable.is_local(name)`` (``is_domain_local``) and the dispatcher states.
A reload that fails (database down) keeps the previous snapshot and raises; ``load()``
logs instead, for the proxy, which starts with empty tables rather than not at all.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from kamtool.db import schema
from kamtool.db.models import make_model
from kamtool.proxy.dispatcher import Destination, Dispatcher

__all__ = ["AddressTable", "DispatcherTable", "DomainTable", "Destination"]

log = logging.getLogger(__name__)


def rollback(database: Any) -> None:
    """After a failed statement (PostgreSQL aborts the transaction until a rollback)."""
    try:
        database.rollback()
    except Exception:
        pass


def _model(database: Any, table: str) -> Any:
    return make_model(schema.tables()[table], database)


@dataclass(frozen=True, slots=True)
class AddressRow:
    grp: int
    ip_addr: str
    mask: int
    port: int
    tag: str | None
    network: Any  # ipaddress network


@dataclass(frozen=True, slots=True)
class TrustedRow:
    src_ip: str
    proto: str
    from_pattern: str | None
    ruri_pattern: str | None
    tag: str | None
    priority: int


def _load_logged(database: Any, table: str, reload: Any) -> None:
    """``reload()``; a table that cannot be read is logged and keeps its rows."""
    try:
        reload()
    except Exception as exc:
        log.warning("cannot load the %s table: %s", table, exc)
        rollback(database)


class AddressTable:
    """``address`` and ``trusted`` (the permissions module)."""

    def __init__(self, database: Any, *, load: bool = True) -> None:
        self.database = database
        self._addresses: list[AddressRow] = []
        self._trusted: list[TrustedRow] = []
        self._cache: dict[tuple[int, str, int], bool] = {}
        if load:
            self.reload_addresses()
            # like the reference cfg: the address table is the one that must be there
            _load_logged(database, "trusted", self.reload_trusted)

    def load(self) -> None:
        """Read both tables, logging (not raising) for one that cannot be read: the proxy
        starts with no rows rather than not at all."""
        _load_logged(self.database, "address", self.reload_addresses)
        _load_logged(self.database, "trusted", self.reload_trusted)

    def addresses(self) -> list[AddressRow]:
        return list(self._addresses)

    def trusted(self) -> list[TrustedRow]:
        return list(self._trusted)

    def reload_addresses(self) -> None:
        m = _model(self.database, "address")
        rows = []
        for r in m.select().order_by(m.id):
            try:
                net = ipaddress.ip_network(f"{r.ip_addr}/{r.mask}", strict=False)
            except ValueError:
                # Kamailio skips rows it cannot parse too
                log.warning("address table: ignoring bad entry %s/%s", r.ip_addr, r.mask)
                continue
            rows.append(AddressRow(r.grp, r.ip_addr, r.mask, r.port, r.tag or None, net))
        self._addresses = rows
        self._cache.clear()

    def reload_trusted(self) -> None:
        m = _model(self.database, "trusted")
        self._trusted = [
            TrustedRow(
                r.src_ip, r.proto, r.from_pattern, r.ruri_pattern, r.tag or None, r.priority or 0
            )
            for r in m.select().order_by(m.id)
        ]

    def allows(self, group: int, ip: str, port: int = 0) -> bool:
        """``allow_source_address(group)``: ``ip`` (and ``port``, 0 = any) is in the group."""
        key = (group, ip, port)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        ok = any(
            r.grp == group and (r.port == 0 or r.port == port) and addr in r.network
            for r in self._addresses
        )
        if len(self._cache) > 65536:  # per-request answers; bound the memory
            self._cache.clear()
        self._cache[key] = ok
        return ok


class DomainTable:
    """``domain`` (the domain module), plus ``static`` names that are always local."""

    def __init__(
        self, database: Any, static: frozenset[str] = frozenset(), *, load: bool = True
    ) -> None:
        self.database = database
        self.static = static
        self._rows: list[tuple[str, str | None]] = []
        self.names: frozenset[str] = static
        if load:
            self.reload()

    def load(self) -> None:
        """:meth:`reload`, logging (not raising) when the table cannot be read."""
        _load_logged(self.database, "domain", self.reload)

    def domains(self) -> list[tuple[str, str | None]]:
        return list(self._rows)

    def reload(self) -> None:
        m = _model(self.database, "domain")
        self._rows = [(r.domain, r.did or None) for r in m.select().order_by(m.id)]
        self.names = self.static | {d.lower() for d, _ in self._rows}

    def is_local(self, name: str | None) -> bool:
        """``is_domain_local``: ``name`` is in the table (or a static name)."""
        return bool(name) and name.lower() in self.names  # type: ignore[union-attr]

    def record_if_empty(self, name: str) -> bool:
        """Add ``name`` to an empty ``domain`` table; True when it did.

        A fresh database then names the domain this proxy serves, which is what
        ``kamtool add 1001 pass`` takes as the default domain. A table that already has
        rows belongs to the operator and is left alone.
        """
        import datetime as dt

        try:
            m = _model(self.database, "domain")
            if m.select().exists():
                return False
            now = dt.datetime.now().replace(microsecond=0)
            m.insert(domain=name, last_modified=now).execute()
        except Exception as exc:
            log.warning("cannot record the served domain %s: %s", name, exc)
            rollback(self.database)
            return False
        log.info("domain table was empty: recorded %s as the served domain", name)
        self.load()
        return True


# The dispatcher table with its run-time states is the proxy's dispatcher module (one
# implementation of the states, the order and dispatcher.set_state); without start() it
# does no probing, which is all a snapshot for the RPC methods needs.
DispatcherTable = Dispatcher
