"""NAT traversal helpers, sans-IO: private-address tests, nathelper's ``nat_uac_test``
heuristics, the ``received`` URI of a NATed registration and the ``;alias=`` Contact
parameter (``ip~port~proto``) that lets a proxy route in-dialog requests back through
the NAT binding without rewriting the UA's Contact.

Flag values are those of Kamailio's ``nat_uac_test()`` so operators can carry their
number over (the stock configuration uses 19 = 1 + 2 + 16).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from kamtool.sip.errors import ParseError

__all__ = [
    "NAT_CONTACT_PRIVATE",
    "NAT_VIA_RECEIVED",
    "NAT_VIA_PRIVATE",
    "NAT_VIA_PORT",
    "NAT_SOURCE_PRIVATE",
    "NAT_CONTACT_PORT",
    "SUPPORTED_TESTS",
    "is_private",
    "nat_uac_test",
    "received_uri",
    "make_alias",
    "parse_alias",
]

NAT_CONTACT_PRIVATE = 1  # a Contact host is an RFC 1918 / RFC 6598 address
NAT_VIA_RECEIVED = 2  # the top Via host differs from the source IP
NAT_VIA_PRIVATE = 4  # the top Via host is private
NAT_VIA_PORT = 16  # the top Via port (5060 when absent) differs from the source port
NAT_SOURCE_PRIVATE = 32  # the source IP itself is private
NAT_CONTACT_PORT = 128  # a Contact port (5060 when absent) differs from the source port
# 8/256 (SDP) need a media relay to be useful, 64/512 (WebSocket, dst URI) do not apply
SUPPORTED_TESTS = (
    NAT_CONTACT_PRIVATE
    | NAT_VIA_RECEIVED
    | NAT_VIA_PRIVATE
    | NAT_VIA_PORT
    | NAT_SOURCE_PRIVATE
    | NAT_CONTACT_PORT
)

_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)

# Kamailio's protocol numbers, as they appear in ``alias=ip~port~N``
PROTO_NUMBERS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}
_PROTO_NAMES = {n: p for p, n in PROTO_NUMBERS.items()}


# Both run for every request (route[NATDETECT]) on the few addresses a proxy sees again
# and again, and ipaddress is slow to parse: the answers are memoised (bounded).
@functools.lru_cache(maxsize=4096)
def is_private(host: str | None) -> bool:
    """True for RFC 1918 (10/8, 172.16/12, 192.168/16), RFC 6598 (100.64/10) and IPv6
    unique-local addresses; False for anything else, names included."""
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _PRIVATE)


def _same_ip(a: str, b: str) -> bool:
    return a == b or _same_ip_parsed(a, b)  # the usual case: the Via names the source


@functools.lru_cache(maxsize=4096)
def _same_ip_parsed(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return a.lower() == b.lower()


def nat_uac_test(
    flags: int,
    *,
    source: tuple[str, int],
    via_host: str | None,
    via_port: int | None,
    contacts: Iterable[tuple[str, int | None]] = (),
) -> bool:
    """Kamailio's ``nat_uac_test(flags)``: True when any selected heuristic says the
    sender is behind a NAT. ``contacts`` are the (host, port) of the Contact URIs;
    absent ports count as 5060, as in Kamailio."""
    src_ip, src_port = source
    contacts = list(contacts)
    if flags & NAT_CONTACT_PRIVATE and any(is_private(h) for h, _ in contacts):
        return True
    if via_host is not None:
        if flags & NAT_VIA_RECEIVED and not _same_ip(via_host, src_ip):
            return True
        if flags & NAT_VIA_PRIVATE and is_private(via_host):
            return True
        if flags & NAT_VIA_PORT and (via_port or 5060) != src_port:
            return True
    if flags & NAT_SOURCE_PRIVATE and is_private(src_ip):
        return True
    return bool(flags & NAT_CONTACT_PORT and any((p or 5060) != src_port for _, p in contacts))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def received_uri(proto: str, host: str, port: int) -> str:
    """The URI a NATed registration is reached at (fix_nated_register): the source
    address, with ``;transport=`` for anything but UDP (``sip:192.0.2.1:40312``)."""
    proto = proto.lower()
    tail = "" if proto == "udp" else f";transport={proto}"
    return f"sip:{_host(host)}:{port}{tail}"


def make_alias(proto: str, host: str, port: int) -> str:
    """Value of the Contact ``alias`` parameter: ``ip~port~proto-number``."""
    return f"{_host(host)}~{port}~{PROTO_NUMBERS.get(proto.lower(), 1)}"


def parse_alias(value: str | None) -> tuple[str, str, int]:
    """``ip~port~N`` → (proto, host, port); ParseError when it is not one."""
    parts = (value or "").split("~")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ParseError(f"bad alias parameter {value!r}")
    host, port, proto = parts[0].strip("[]"), int(parts[1]), int(parts[2])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ParseError(f"bad alias parameter {value!r}: not an IP address") from None
    if not 0 < port < 65536 or proto not in _PROTO_NAMES:
        raise ParseError(f"bad alias parameter {value!r}")
    return _PROTO_NAMES[proto], host, port
