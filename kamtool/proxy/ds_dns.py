"""The dispatcher's DNS on the event loop (the pure rules: kamtool/core/dispatch/resolve.py).

:class:`AsyncDnsResolver` looks names up without blocking the loop: A/AAAA through the
system's resolver (``getaddrinfo`` in the loop's executor: /etc/hosts and nsswitch count,
as for Kamailio's ``resolvehost``), SRV with dnspython's asynchronous resolver. Given
``nameservers`` it asks those servers for everything (tests run their own server on
loopback). :func:`refresh` resolves the destinations that are due, all at once;
:class:`DnsRefresher` does it every ``interval`` seconds (``ds_dns_mode`` 4) and
:class:`LookupOnMatch` when ``ds_is_from_list`` compares addresses (``ds_dns_mode`` 2).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from kamtool.core.dispatch.engine import DsEngine
from kamtool.core.dispatch.resolve import (
    DNS_ALWAYS,
    DNS_TIMER,
    Answer,
    Query,
    Resolver,
    apply,
    due,
    pick_srv,
    query_for,
)
from kamtool.core.sipdns import SrvRecord, addresses, local_name, make_resolver, srv_records

__all__ = ["AsyncDnsResolver", "DnsRefresher", "LookupOnMatch", "refresh"]

#: ds_dns_mode 2: a name is asked again when its last answer is this old (seconds)
ON_MATCH_MIN_AGE = 1.0

log = logging.getLogger(__name__)


class AsyncDnsResolver:
    """:class:`~kamtool.core.dispatch.resolve.Resolver` on asyncio."""

    def __init__(
        self, nameservers: list[tuple[str, int]] | None = None, timeout: float = 3.0
    ) -> None:
        self.nameservers = nameservers
        self.timeout = timeout
        self._dns: Any = None

    def _resolver(self) -> Any:
        if self._dns is None:
            import dns.asyncresolver

            self._dns = make_resolver(dns.asyncresolver.Resolver, self.nameservers, self.timeout)
        return self._dns

    async def lookup(self, query: Query) -> Answer | None:
        # localhost and /etc/hosts names never become DNS questions (RFC 6761), as sipreq
        if query.srv and (self.nameservers or not local_name(query.host)):
            picked = pick_srv(await self._srv(query.srv))
            if picked is not None:
                address = await self._address(picked.target)
                return Answer(address, picked.port) if address else None
        address = await self._address(query.host)
        return Answer(address) if address else None

    async def _srv(self, name: str) -> list[SrvRecord]:
        import dns.exception

        try:
            answer = await self._resolver().resolve(name, "SRV", raise_on_no_answer=False)
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("dispatcher: no SRV for %s: %s", name, exc)
            return []
        return srv_records(answer)

    async def _address(self, host: str) -> str | None:
        if self.nameservers:
            import dns.exception

            for rdtype in ("A", "AAAA"):
                try:
                    answer = await self._resolver().resolve(host, rdtype, raise_on_no_answer=False)
                except dns.exception.DNSException:
                    continue
                for address in addresses(answer):
                    return address
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except OSError:
            return None
        return str(infos[0][4][0]) if infos else None


async def refresh(
    engine: DsEngine, resolver: Resolver, mode: int, interval: float = 0.0
) -> list[str]:
    """Look up every destination that is due (see :func:`~kamtool.core.dispatch.resolve.due`);
    returns the URIs whose address or port changed. A name that does not resolve keeps
    its last address (logged)."""
    now = time.time()
    dests = due(list(engine.destinations()), now, interval, mode)
    queries = [query_for(d, mode) for d in dests]
    answers = await asyncio.gather(*(resolver.lookup(q) for q in queries if q is not None))
    changed = []
    for dest, answer in zip(dests, answers, strict=True):
        if answer is None:
            log.warning("dispatcher: cannot resolve %s (set %d)", dest.host, dest.set_id)
        elif apply(dest, answer, now):
            changed.append(dest.uri)
    return changed


class DnsRefresher:
    """Resolves the current engine's destinations now and (timer mode) every
    ``interval`` seconds; ``engine`` is a function, as a reload replaces the engine."""

    def __init__(
        self, engine: Callable[[], DsEngine], resolver: Resolver, mode: int, interval: float
    ) -> None:
        self.engine, self.resolver = engine, resolver
        self.mode, self.interval = mode, interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await refresh(self.engine(), self.resolver, self.mode, self.interval)
            except Exception:  # a broken resolver must not end the refreshes
                log.exception("dispatcher: DNS refresh failed")
            if not self.mode & DNS_TIMER:
                return
            await asyncio.sleep(self.interval)


class LookupOnMatch:
    """``ds_dns_mode`` 2: the names are looked up again whenever ``ds_is_from_list``
    compares a source address with the destinations.

    Kamailio resolves each name right there, blocking its SIP worker for the lookup (its
    DNS cache answers most of them). One event loop serves every request here and must
    not wait, so a match compares with the last answers and starts a lookup of the names
    whose answer is older than :data:`ON_MATCH_MIN_AGE` (standing in for that cache;
    one round at a time): a changed record is seen by the matches that follow it.
    """

    def __init__(
        self, engine: Callable[[], DsEngine], resolver: Resolver, mode: int,
        min_age: float = ON_MATCH_MIN_AGE,
    ) -> None:  # fmt: skip
        self.engine, self.resolver = engine, resolver
        self.mode, self.min_age = mode | DNS_ALWAYS | DNS_TIMER, min_age
        self.task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Start a round of lookups unless one runs (nothing without a running loop)."""
        if self.task is not None and not self.task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.task = loop.create_task(self._round())

    async def _round(self) -> None:
        try:
            await refresh(self.engine(), self.resolver, self.mode, self.min_age)
        except Exception:  # a broken resolver must not break the matches
            log.exception("dispatcher: DNS lookup on ds_is_from_list failed")
