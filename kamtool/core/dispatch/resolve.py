"""DNS for dispatcher destinations, as Kamailio 5.6's ``ds_dns_mode`` does it, without
doing any I/O here: what to ask for a destination (:func:`query_for`), which SRV record
to use (:func:`pick_srv`, shared with sipreq's resolver in :mod:`kamtool.core.sipdns`),
how an answer changes the destination (:func:`apply`), which destinations a refresh
covers (:func:`due`), and the :class:`Resolver` interface the proxy implements with
asyncio (``kamtool/proxy/ds_dns.py``).

Modes (bits): 1 resolve at load, 2 resolve again on every address match
(``ds_is_from_list``), 4 refresh every ``ds_dns_interval`` seconds, 8 SRV first for
names written without a port (``_sip._udp``, ``_sip._tcp`` for ``transport=tcp``,
``_sips._tcp`` for TLS and ``sips:``), then A/AAAA of the target; a name with a port, or
without SRV records, gets A/AAAA. IP literals are never looked up, nor destinations with
the flag 16 (no DNS).

Kamailio writes the SRV port into the destination's port, so its next refresh has a port
and never asks for SRV again: a changed SRV record is not followed until a reload. We keep
the written port and the SRV port apart, so a refresh follows SRV changes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kamtool.core import sipdns
from kamtool.core.dispatch.model import DS_NODNSARES, DsDest
from kamtool.core.sipdns import pick_srv

__all__ = [
    "DNS_ALWAYS", "DNS_INIT", "DNS_QSRV", "DNS_TIMER", "Answer", "Query", "Resolver",
    "apply", "due", "is_ip", "pick_srv", "query_for", "send_port",
]  # fmt: skip

DNS_INIT, DNS_ALWAYS, DNS_TIMER, DNS_QSRV = 1, 2, 4, 8
# Kamailio's proto numbers to the transport whose SRV records they ask (WS: TCP's)
_SRV_PROTO = {0: "udp", 1: "udp", 2: "tcp", 3: "tls", 4: "sctp", 5: "tcp", 6: "tls"}


@dataclass(frozen=True, slots=True)
class Query:
    """What to look up: ``srv`` first when set, else (or without SRV records) the
    addresses of ``host``."""

    host: str
    srv: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An address, and the port an SRV record gave (0: none)."""

    address: str
    port: int = 0


class Resolver(Protocol):
    """Looks a :class:`Query` up without blocking; None when the name does not resolve."""

    async def lookup(self, query: Query) -> Answer | None: ...


def is_ip(host: str) -> bool:
    """True for an IPv4 address or a (bracketed) IPv6 address."""
    return sipdns.is_ip(host.strip("[]"))


def query_for(dest: DsDest, mode: int = DNS_INIT) -> Query | None:
    """The lookup ``dest`` needs (None: an IP literal, or DNS off for it)."""
    if dest.flags & DS_NODNSARES or not dest.host or is_ip(dest.host):
        return None
    srv = None
    if mode & DNS_QSRV and dest.port == 0:
        secure = dest.uri[:5].lower() == "sips:"
        srv = sipdns.srv_name(_SRV_PROTO.get(dest.proto, "udp"), dest.host, secure=secure)
    return Query(dest.host, srv)


def apply(dest: DsDest, answer: Answer | None, now: float) -> bool:
    """Store a lookup's result (a failed lookup keeps the last address, as Kamailio's
    refresh does); True when the address or port changed."""
    if answer is None:
        return False
    changed = (dest.address, dest.resolved_port) != (answer.address, answer.port)
    dest.address, dest.resolved_port, dest.dnstime = answer.address, answer.port, now
    return changed


def due(dests: list[DsDest], now: float, interval: float, mode: int) -> list[DsDest]:
    """The destinations a refresh at ``now`` looks up: with the timer mode, those last
    resolved ``interval`` seconds ago or more (and those never resolved)."""

    def stale(d: DsDest) -> bool:
        return d.address is None or bool(mode & DNS_TIMER and now - d.dnstime >= interval)

    return [d for d in dests if query_for(d, mode) is not None and stale(d)]


def send_port(dest: DsDest) -> int:
    """The port to send to: written, else from SRV, else 5061 for TLS, 5060."""
    return dest.port or dest.resolved_port or sipdns.default_port(_SRV_PROTO.get(dest.proto, ""))
