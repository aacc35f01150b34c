"""``KSR.permissions`` over the ``address`` and ``trusted`` tables
(:class:`kamtool.proxy.tables.AddressTable`), with Kamailio 5.6's answers: the group
functions return the group number (-1 for none), the others 1 or -1.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from kamtool.core import posix_regex
from kamtool.proxy.ksr.context import state
from kamtool.sip.errors import ParseError

log = logging.getLogger("kamtool.route")


def _perms() -> Any:
    return state.ctx.parts.permissions


def allow_source_address(group: int = 1) -> int:
    """1 when the message's source address and port are in ``group``."""
    ctx = state.ctx
    perms = _perms()
    if perms is None:
        return -1
    return 1 if perms.allows(int(group), ctx.addr[0], ctx.addr[1]) else -1


def allow_address(group: int, ip: str, port: int) -> int:
    """1 when ``ip`` (an address, not a name) and ``port`` are in ``group``."""
    perms = _perms()
    if perms is None:
        return -1
    return 1 if perms.allows(int(group), str(ip), int(port)) else -1


def group_of(perms: Any, ip: str, port: int) -> int:
    """The group of ``ip``:``port``, as Kamailio looks it up: single addresses (a full
    mask) first, in table order, then the subnets by group number; -1 when none."""
    if perms is None:
        return -1
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return -1  # (Kamailio would look the name up in its domain-name table)
    rows = [r for r in perms.addresses()
            if r.network.version == addr.version and (r.port == 0 or r.port == port)]  # fmt: skip
    hosts = [r for r in rows if r.network.prefixlen == r.network.max_prefixlen]
    nets = sorted((r for r in rows if r not in hosts), key=lambda r: r.grp)
    for r in (*hosts, *nets):
        if addr in r.network:
            return int(r.grp)
    return -1


def allow_address_group(ip: str, port: int) -> int:
    return group_of(_perms(), str(ip), int(port))


def allow_source_address_group() -> int:
    ctx = state.ctx
    return group_of(_perms(), ctx.addr[0], int(ctx.addr[1]))


def _matches(pattern: str | None, text: str) -> bool:
    """The permissions module's match: a POSIX basic expression, as libc compiles it
    (kamtool.core.posix_regex says why not ``re``); a bad pattern matches nothing."""
    if not pattern:
        return True
    try:
        return posix_regex.search(pattern, text)
    except posix_regex.PosixRegexError as exc:
        log.error("trusted: invalid regular expression %r: %s", pattern, exc)
        return False


def allow_trusted() -> int:
    """1 when a ``trusted`` row has the source IP, its protocol (or ``any``), and patterns
    (when set) that match the From URI and the R-URI; -1 otherwise."""
    ctx = state.ctx
    perms = _perms()
    if perms is None or not ctx.msg.is_request:
        return -1
    proto = str(ctx.endpoint.proto).lower()
    try:
        from_uri = str(ctx.parts.codec.from_uri(ctx.msg) or "")
    except ParseError:
        return -1
    ruri = ctx.msg.uri_text
    for row in perms.trusted():
        if row.src_ip != ctx.addr[0]:
            continue
        if (row.proto or "any").lower() not in ("any", proto):
            continue
        if _matches(row.from_pattern, from_uri) and _matches(row.ruri_pattern, ruri):
            return 1
    return -1


def permissions_functions() -> dict[str, Any]:
    """``KSR.permissions`` by name."""
    return dict(allow_source_address=allow_source_address, allow_address=allow_address,
                allow_address_group=allow_address_group,
                allow_source_address_group=allow_source_address_group,
                allow_trusted=allow_trusted)  # fmt: skip
