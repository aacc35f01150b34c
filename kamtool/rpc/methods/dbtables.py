"""In-memory snapshots of Kamailio's ``address``, ``trusted``, ``domain`` and ``dispatcher``
tables, as the permissions, domain and dispatcher modules keep them: loaded at start,
replaced on reload (``permissions.addressReload``, ``domain.reload``,
``dispatcher.reload``), never read from the database per request.

They implement the :class:`~kamtool.rpc.methods.permissions.Permissions`,
:class:`~kamtool.rpc.methods.permissions.Domains` and
:class:`~kamtool.rpc.methods.dispatcher.Dispatcher` protocols, and give the proxy what its
routing needs: ``AddressTable.allows(group, ip, port)`` (``allow_source_address``),
``DomainTable.is_local(name)`` (``is_domain_local``) and the dispatcher states.
A reload that fails (database down) keeps the previous snapshot and raises.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from kamtool.db import schema
from kamtool.db.models import make_model

__all__ = ["AddressTable", "DispatcherTable", "DomainTable", "Destination"]

log = logging.getLogger(__name__)


def _rollback(database: Any) -> None:
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


@dataclass(frozen=True, slots=True)
class TrustedRow:
    src_ip: str
    proto: str
    from_pattern: str | None
    ruri_pattern: str | None
    tag: str | None
    priority: int


class AddressTable:
    """``address`` and ``trusted`` (the permissions module)."""

    def __init__(self, database: Any, *, load: bool = True) -> None:
        self.database = database
        self._addresses: list[AddressRow] = []
        self._networks: list[tuple[int, Any, int]] = []  # (grp, network, port)
        self._trusted: list[TrustedRow] = []
        if load:
            self.reload_addresses()
            try:
                self.reload_trusted()
            except Exception as exc:  # like the reference cfg: address table only
                log.warning("permissions: trusted table not loaded: %s", exc)
                _rollback(database)

    def addresses(self) -> list[AddressRow]:
        return list(self._addresses)

    def trusted(self) -> list[TrustedRow]:
        return list(self._trusted)

    def reload_addresses(self) -> None:
        m = _model(self.database, "address")
        rows = [
            AddressRow(r.grp, r.ip_addr, r.mask, r.port, r.tag or None)
            for r in m.select().order_by(m.id)
        ]
        networks = []
        for r in rows:
            try:
                networks.append(
                    (r.grp, ipaddress.ip_network(f"{r.ip_addr}/{r.mask}", strict=False), r.port)
                )
            except ValueError:
                continue  # Kamailio skips rows it cannot parse too
        self._addresses, self._networks = rows, networks

    def reload_trusted(self) -> None:
        m = _model(self.database, "trusted")
        self._trusted = [
            TrustedRow(r.src_ip, r.proto, r.from_pattern, r.ruri_pattern, r.tag or None, r.priority)
            for r in m.select().order_by(m.id)
        ]

    def allows(self, group: int, ip: str, port: int = 0) -> bool:
        """``allow_source_address(group)``: ``ip`` (and ``port``, 0 = any) is in the group."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(
            grp == group and addr in net and (p == 0 or p == port) for grp, net, p in self._networks
        )


class DomainTable:
    """``domain`` (the domain module)."""

    def __init__(self, database: Any, *, load: bool = True) -> None:
        self.database = database
        self._rows: list[tuple[str, str | None]] = []
        if load:
            self.reload()

    def domains(self) -> list[tuple[str, str | None]]:
        return list(self._rows)

    def reload(self) -> None:
        m = _model(self.database, "domain")
        self._rows = [(r.domain, r.did or None) for r in m.select().order_by(m.id)]

    def is_local(self, name: str) -> bool:
        name = name.lower()
        return any(d.lower() == name for d, _ in self._rows)


# dispatcher flags column / state bits (Kamailio's DS_*_DST)
DS_INACTIVE, DS_TRYING, DS_DISABLED, DS_PROBING = 1, 2, 4, 8


@dataclass(slots=True)
class Destination:
    """One dispatcher destination with its run-time state bits."""

    set_id: int
    uri: str
    state: int
    priority: int
    attrs: str
    description: str = ""

    @property
    def flags(self) -> str:
        """Kamailio's two letters: A/I/D/T, then P (probing) or X."""
        if self.state & DS_DISABLED:
            first = "D"
        elif self.state & DS_INACTIVE:
            first = "I"
        elif self.state & DS_TRYING:
            first = "T"
        else:
            first = "A"
        return first + ("P" if self.state & DS_PROBING else "X")

    @property
    def usable(self) -> bool:
        """Eligible for ds_select_dst (active or trying, not inactive/disabled)."""
        return not self.state & (DS_INACTIVE | DS_DISABLED)


_STATE_BITS = {"a": 0, "i": DS_INACTIVE, "d": DS_DISABLED, "t": DS_TRYING}


class DispatcherTable:
    """``dispatcher`` sets with run-time states (the dispatcher module's list)."""

    def __init__(self, database: Any, *, load: bool = True) -> None:
        self.database = database
        self.ping_active = True
        self._sets: dict[int, list[Destination]] = {}
        if load:
            self.reload()

    def sets(self) -> dict[int, list[Destination]]:
        return self._sets

    def reload(self) -> None:
        """Re-read the table: every state restarts from the ``flags`` column."""
        m = _model(self.database, "dispatcher")
        sets: dict[int, list[Destination]] = {}
        for r in m.select().order_by(m.setid, m.priority.desc(), m.id):
            sets.setdefault(r.setid, []).append(
                Destination(r.setid, r.destination, r.flags, r.priority, r.attrs or "",
                            r.description or "")
            )  # fmt: skip
        self._sets = sets

    def set_state(self, state: str, set_id: int, uri: str) -> bool:
        """``dispatcher.set_state``: ``state`` is a/i/d/t with an optional ``p``."""
        bits = _STATE_BITS.get(state[:1].lower())
        if bits is None:
            return False
        if state[1:].lower() == "p":
            bits |= DS_PROBING
        hit = False
        for dst in self._sets.get(set_id, ()):
            if uri == "all" or dst.uri == uri:
                dst.state = bits
                hit = True
        return hit
