"""``permissions.*`` and ``domain.*`` over the proxy's address, trusted and domain tables."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any, Protocol

from kamtool.core.hashes import core_hash
from kamtool.rpc.kamjson import LazyList, chunks_of
from kamtool.rpc.methods import Registry, RpcFault
from kamtool.rpc.methods.reload_guard import RELOAD_DELTA, ReloadGuard

__all__ = ["Domains", "Permissions", "register", "register_domain"]


class Permissions(Protocol):
    """What ``permissions.*`` needs.

    * ``addresses()`` → rows of the ``address`` table as loaded: objects with ``grp``,
      ``ip_addr``, ``mask`` (32/128 for a host), ``port``, ``tag`` (None when empty);
    * ``trusted()`` → rows of ``trusted``: ``src_ip``, ``proto``, ``from_pattern``,
      ``ruri_pattern``, ``tag``, ``priority``;
    * ``reload_addresses()`` / ``reload_trusted()`` re-read the tables.
    """

    def addresses(self) -> list[Any]: ...
    def trusted(self) -> list[Any]: ...
    def reload_addresses(self) -> None: ...
    def reload_trusted(self) -> None: ...


class Domains(Protocol):
    """``domains()`` → ``(domain, did or None)`` pairs; ``reload()`` re-reads the table."""

    def domains(self) -> list[tuple[str, str | None]]: ...
    def reload(self) -> None: ...


def address_bucket(ip: str) -> int:
    """Permissions' ``table`` number: the core hash of the binary address, 128 buckets."""
    try:
        packed = ipaddress.ip_address(ip).packed
    except ValueError:
        packed = ip.encode()
    return core_hash(packed, 128)


def _is_host(row: Any) -> bool:
    return row.mask >= (128 if ":" in row.ip_addr else 32)


def register(
    registry: Registry,
    perms: Permissions,
    *,
    reload_delta: float = RELOAD_DELTA,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add ``permissions.addressDump|subnetDump|domainDump|addressReload|trustedDump|
    trustedReload``. A reload within ``reload_delta`` s of the previous one of the same
    table is refused with 500 "ongoing reload" (permissions' own words; dispatcher's are
    "Ongoing reload")."""

    def address_entry(r: Any) -> dict[str, Any]:
        return {
            "table": address_bucket(r.ip_addr),
            "group": r.grp,
            "item": {"ip": r.ip_addr, "port": r.port, "tag": r.tag or "NULL"},
        }

    def address_dump() -> LazyList:
        # streamed (kamjson.LazyList): the cached rows listed now, printed 500 at a time
        hosts = [r for r in perms.addresses() if _is_host(r)]
        return LazyList(lambda: ([address_entry(r) for r in c] for c in chunks_of(hosts, 500)))

    def subnet_dump() -> list[dict[str, Any]]:
        subnets = [r for r in perms.addresses() if not _is_host(r)]
        return [
            {
                "id": i,
                "group": r.grp,
                "item": {"ip": r.ip_addr, "mask": r.mask, "port": r.port, "tag": r.tag or "NULL"},
            }
            for i, r in enumerate(subnets)
        ]

    def trusted_entry(i: int, r: Any) -> dict[str, Any]:
        return {
            "table": i,
            "item": {
                "ip": r.src_ip,
                "proto": r.proto,
                "pattern": r.from_pattern or "NULL",
                "ruri_pattern": r.ruri_pattern or "NULL",
                "tag": r.tag or "NULL",
                "priority": r.priority,
            },
        }

    def trusted_dump() -> LazyList:
        rows = list(enumerate(perms.trusted()))  # streamed as address_dump
        return LazyList(lambda: ([trusted_entry(i, r) for i, r in c] for c in chunks_of(rows, 500)))

    # Kamailio 5.6 keeps one reload time for both tables, so an addressReload also
    # refuses a trustedReload for 5 s (kamailio/kamailio#3318); the limit exists to keep
    # reloads of the same table apart, so here each table has its own.
    address_guard = ReloadGuard("ongoing reload", reload_delta, clock)
    trusted_guard = ReloadGuard("ongoing reload", reload_delta, clock)

    def reload(guard: ReloadGuard, fn: Any) -> str:
        guard()
        try:
            fn()
        except Exception as exc:
            raise RpcFault(500, "Reload failed.") from exc
        return "Reload OK"

    registry.add("permissions.addressDump", address_dump, "Print host entries of address.")
    registry.add("permissions.subnetDump", subnet_dump, "Print subnet entries of address.")
    registry.add("permissions.domainDump", dict, "Print domain name entries of address.")
    registry.add(
        "permissions.addressReload",
        lambda: reload(address_guard, perms.reload_addresses),
        "Reload the address table from the database.",
    )
    registry.add("permissions.trustedDump", trusted_dump, "Print the trusted table.")
    registry.add(
        "permissions.trustedReload",
        lambda: reload(trusted_guard, perms.reload_trusted),
        "Reload the trusted table from the database.",
    )


def register_domain(registry: Registry, domains: Domains) -> None:
    """Add ``domain.dump`` and ``domain.reload``."""

    def dump() -> dict[str, Any]:
        return {
            "domains": [{"domain": d, "did": did or d} for d, did in domains.domains()],
            "attributes": [],
        }

    def reload() -> None:
        try:
            domains.reload()
        except Exception as exc:
            raise RpcFault(500, "Domain table reload failed") from exc

    registry.add("domain.dump", dump, "Return the contents of the domain table.")
    registry.add("domain.reload", reload, "Reload the domain table from the database.")
