"""In-memory copies of the ``address``, ``trusted`` and ``domain`` tables (Kamailio's
permissions and domain modules): loaded at start, reloaded on request
(``permissions.addressReload``, ``permissions.trustedReload``, ``domain.reload``).

:meth:`Permissions.allow_source` is ``allow_source_address(group)``: the source IP must be
in a row of that group (host or subnet) and the port must match unless the row says 0.
:class:`Domains` answers ``is_from_local()`` / ``is_uri_host_local()``.
Both implement the interfaces :mod:`kamtool.rpc.methods.permissions` reads.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


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


def _model(table: str, database: Any) -> Any:
    from kamtool.proxy.usrloc import bound_model

    return bound_model(table, database)


class Permissions:
    """``address`` and ``trusted`` rows, and source-address checks against them."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self._addresses: list[AddressRow] = []
        self._trusted: list[TrustedRow] = []
        self._cache: dict[tuple[str, int, int], bool] = {}

    def load(self) -> None:
        """Read both tables (errors are logged: a missing table means no rows)."""
        self.reload_addresses()
        self.reload_trusted()

    def reload_addresses(self) -> None:
        rows = []
        try:
            m = _model("address", self.database)
            for r in m.select():
                try:
                    net = ipaddress.ip_network(f"{r.ip_addr}/{r.mask}", strict=False)
                except ValueError:
                    log.warning("address table: ignoring bad entry %s/%s", r.ip_addr, r.mask)
                    continue
                rows.append(AddressRow(r.grp, r.ip_addr, r.mask, r.port, r.tag or None, net))
        except Exception as exc:
            log.warning("cannot load the address table: %s", exc)
            return
        self._addresses = rows
        self._cache.clear()

    def reload_trusted(self) -> None:
        try:
            m = _model("trusted", self.database)
            self._trusted = [
                TrustedRow(
                    r.src_ip, r.proto, r.from_pattern, r.ruri_pattern, r.tag, r.priority or 0
                )
                for r in m.select()
            ]
        except Exception as exc:
            log.warning("cannot load the trusted table: %s", exc)

    def addresses(self) -> list[AddressRow]:
        return list(self._addresses)

    def trusted(self) -> list[TrustedRow]:
        return list(self._trusted)

    def allow_source(self, ip: str, port: int, group: int = 1) -> bool:
        """``allow_source_address(group)`` for a request from ``ip:port``."""
        key = (ip, port, group)
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
        if len(self._cache) > 65536:
            self._cache.clear()
        self._cache[key] = ok
        return ok


class Domains:
    """The ``domain`` table: which host names are local (besides the listen addresses)."""

    def __init__(self, database: Any, static: frozenset[str] = frozenset()) -> None:
        self.database = database
        self.static = static
        self._rows: list[tuple[str, str | None]] = []
        self.names: frozenset[str] = static

    def reload(self) -> None:
        try:
            m = _model("domain", self.database)
            self._rows = [(r.domain, r.did) for r in m.select()]
        except Exception as exc:
            log.warning("cannot load the domain table: %s", exc)
        self.names = self.static | {d.lower() for d, _ in self._rows}

    def domains(self) -> list[tuple[str, str | None]]:
        return list(self._rows)

    def record_if_empty(self, name: str) -> bool:
        """Add ``name`` to an empty ``domain`` table; True when it did.

        A fresh database then names the domain this proxy serves, which is what
        ``kamtool add 1001 pass`` takes as the default domain. A table that already has
        rows belongs to the operator and is left alone.
        """
        import datetime as dt

        try:
            m = _model("domain", self.database)
            if m.select().exists():
                return False
            now = dt.datetime.now().replace(microsecond=0)
            m.insert(domain=name, last_modified=now).execute()
        except Exception as exc:
            log.warning("cannot record the served domain %s: %s", name, exc)
            return False
        log.info("domain table was empty: recorded %s as the served domain", name)
        self.reload()
        return True

    def is_local(self, host: str | None) -> bool:
        return bool(host) and host.lower() in self.names  # type: ignore[union-attr]
