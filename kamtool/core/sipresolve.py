"""Where a SIP request for a URI goes: RFC 3263 section 4 (client side).

* an IP address, or a name with a port: that address, the port or the transport's
  default (5060, 5061 for TLS), over the URI's ``transport=`` or UDP (TLS for ``sips:``);
* otherwise DNS: NAPTR records of the name (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``) in
  order and preference, each leading to SRV records; without NAPTR, the SRV records
  ``_sip._udp``, ``_sip._tcp`` and ``_sips._tcp``; SRV targets by priority and, within a
  priority, by RFC 2782's weighted random order; without any, A/AAAA records.

Names that are not DNS names (``localhost`` and its subdomains, RFC 6761, and names of
``/etc/hosts``) go to the system resolver only: no DNS query leaves the host for them.
What this shares with the dispatcher's resolver is in :mod:`kamtool.core.sipdns`.
DNS queries go to the system's servers, or to ``dns_server`` (tests use one on loopback).
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass
from typing import Any

from kamtool.core.sipdns import (
    addresses,
    default_port,
    is_ip,
    local_name,
    make_resolver,
    srv_name,
    srv_order,
    srv_records,
)
from kamtool.errors import BadInput, Unreachable

PROTOCOLS = ("udp", "tcp", "tls")
NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls"}


@dataclass(frozen=True)
class Target:
    """One place to send the request: transport, IP, port, and how it was found."""

    proto: str
    ip: str
    port: int
    how: str  # "address", "A/AAAA", "SRV _sip._udp.example.com", "NAPTR example.com" ...

    @property
    def text(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.proto}:{host}:{self.port}"


class _Dns:
    """DNS questions through dnspython (imported only when a name needs DNS)."""

    def __init__(self, server: tuple[str, int] | None, timeout: float) -> None:
        import dns.resolver

        self.resolver = make_resolver(dns.resolver.Resolver, [server] if server else None, timeout)
        self.server = server

    def query(self, name: str, rdtype: str) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answer = self.resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoNameservers as exc:
            raise Unreachable(f"no DNS server answered for {name} {rdtype}: {exc}") from None
        except dns.exception.Timeout:
            where = f" from {self.server[0]}:{self.server[1]}" if self.server else ""
            raise Unreachable(f"no DNS answer for {name} {rdtype}{where}") from None
        return list(answer)

    def addresses(self, name: str) -> list[str]:
        return addresses(self.query(name, "A")) + addresses(self.query(name, "AAAA"))


def _system_addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve {host}: {exc.strerror}") from None
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def resolve(
    host: str,
    port: int | None,
    *,
    secure: bool = False,
    transport: str | None = None,
    dns_server: tuple[str, int] | None = None,
    timeout: float = 3.0,
    rng: random.Random | None = None,
) -> list[Target]:
    """The targets to try, in order, for ``host[:port]`` (see the module docstring)."""
    proto = transport.lower() if transport else None
    if proto is not None:
        if secure and proto == "tcp":
            proto = "tls"  # sips: over TCP means TLS
        if proto not in PROTOCOLS:
            raise BadInput(f"transport {transport!r} is not supported ({', '.join(PROTOCOLS)})")
        if secure and proto == "udp":
            raise BadInput("a sips: URI needs TLS, not UDP (RFC 3261 26.2)")
    host = host.strip("[]")
    fallback = proto or ("tls" if secure else "udp")
    if is_ip(host):
        return [Target(fallback, host, port or default_port(fallback), "address")]
    if port is not None or local_name(host) or host.endswith(".invalid"):
        p = port or default_port(fallback)
        return [Target(fallback, ip, p, "A/AAAA") for ip in _system_addresses(host, p)]
    dns = _Dns(dns_server, timeout)
    rng = rng or random.SystemRandom()
    targets: list[Target] = []
    if proto is None:
        records = [r for r in dns.query(host, "NAPTR")
                   if r.flags.decode().lower() == "s"
                   and NAPTR_SERVICES.get(r.service.decode().upper()) is not None]  # fmt: skip
        if secure:
            records = [r for r in records if r.service.decode().upper() == "SIPS+D2T"]
        for r in sorted(records, key=lambda r: (r.order, r.preference)):
            p = NAPTR_SERVICES[r.service.decode().upper()]
            targets += _srv(dns, str(r.replacement).rstrip("."), p, rng, f"NAPTR {host} ")
    if not targets:
        wanted = [proto] if proto else (["tls"] if secure else ["udp", "tcp", "tls"])
        for p in wanted:
            targets += _srv(dns, srv_name(p, host), p, rng, "")
            if targets and proto is None:
                break  # the first transport with records (RFC 3263 4.1)
    if targets:
        return targets
    ips = dns.addresses(host) if dns_server else _system_addresses(host, default_port(fallback))
    if not ips:
        raise Unreachable(f"{host} has no NAPTR, SRV, A or AAAA record")
    return [Target(fallback, ip, default_port(fallback), "A/AAAA") for ip in ips]


def _srv(dns: _Dns, name: str, proto: str, rng: random.Random, via: str) -> list[Target]:
    out = []
    for r in srv_order(srv_records(dns.query(name, "SRV")), rng):
        if not r.target:  # "." : the service is decidedly not available here
            continue
        ips = [r.target] if is_ip(r.target) else dns.addresses(r.target)
        out += [Target(proto, ip, r.port, f"{via}SRV {name}") for ip in ips]
    return out
