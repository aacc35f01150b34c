"""DNS for SIP, the parts both of kamtool's resolvers share: :mod:`kamtool.core.sipresolve`
(``sipreq``/``ping``, blocking, RFC 3263) and the dispatcher's on the event loop
(:mod:`kamtool.core.dispatch.resolve`, ``kamtool/proxy/ds_dns.py``).

Here: what an IP literal is, which names never become DNS questions, the SRV service
name of a transport, the default ports, a dnspython resolver set up for given servers,
and SRV records parsed and chosen, in RFC 2782's order (:func:`srv_order`, sipreq) or as
Kamailio's dispatcher takes one (:func:`pick_srv`). No network I/O here: the callers ask.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

HOSTS_FILE = Path("/etc/hosts")
#: RFC 3263 4.1 / RFC 3261 19.1.2: the SRV service label of each transport (WS and
#: WSS have none: they ask TCP's and TLS's)
SRV_SERVICE = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp", "sctp": "_sip._sctp"}


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 address (without brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def local_name(host: str) -> bool:
    """localhost and its subdomains (RFC 6761) or a name /etc/hosts lists: a name for the
    system resolver only, never a DNS question leaving the host."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        lines = HOSTS_FILE.read_text().splitlines()
    except OSError:
        return False
    return any(name in (w.lower() for w in line.split("#", 1)[0].split()[1:]) for line in lines)


def default_port(proto: str) -> int:
    """RFC 3261 19.1.2: 5061 for TLS, 5060 otherwise."""
    return 5061 if proto == "tls" else 5060


def srv_name(proto: str, host: str, *, secure: bool = False) -> str:
    """The SRV name to ask for ``host`` over ``proto`` (``sips:`` always ``_sips._tcp``)."""
    return f"{SRV_SERVICE['tls' if secure else proto]}.{host}"


def make_resolver(factory: Any, servers: list[tuple[str, int]] | None, timeout: float) -> Any:
    """A dnspython resolver (``dns.resolver.Resolver`` or ``dns.asyncresolver.Resolver``,
    given as ``factory``) asking ``servers`` (one port for all, dnspython's limit) or,
    without them, the system's; each lookup gives up after ``timeout`` seconds."""
    resolver = factory(configure=not servers)
    if servers:
        resolver.nameservers = [ip for ip, _port in servers]
        resolver.port = servers[0][1]
    resolver.lifetime = timeout
    return resolver


class SrvRecord(NamedTuple):
    """One SRV record; ``target`` without the final dot ("" for ".": no service there)."""

    priority: int
    weight: int
    port: int
    target: str


def srv_records(answer: Iterable[Any]) -> list[SrvRecord]:
    """dnspython's SRV rdata as :class:`SrvRecord`."""
    return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text().rstrip(".")) for r in answer]


def addresses(answer: Iterable[Any]) -> list[str]:
    """The addresses of dnspython's A or AAAA rdata, in the answer's order."""
    return [str(r.address) for r in answer]


_R = TypeVar("_R", bound=SrvRecord)


def srv_order(records: list[_R], rng: random.Random) -> list[_R]:
    """RFC 2782: by priority; within one, weighted random (weight 0 rarely first)."""
    ordered: list[_R] = []
    for prio in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == prio), key=lambda r: r.weight)
        while group:
            total = sum(r.weight for r in group)
            pick = rng.uniform(0, total) if total else 0
            running = 0
            for i, r in enumerate(group):
                running += r.weight
                if running >= pick:
                    ordered.append(group.pop(i))
                    break
    return ordered


def pick_srv(records: Iterable[SrvRecord]) -> SrvRecord | None:
    """The one record Kamailio's dispatcher uses: the lowest priority, the highest weight
    among those (the first of its sorted list; no random choice); None when there is
    none, or only the "no service" target."""
    usable = [r for r in records if r.target not in ("", ".")]
    if not usable:
        return None
    return min(usable, key=lambda r: (r.priority, -r.weight))
