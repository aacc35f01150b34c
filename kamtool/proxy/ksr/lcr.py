"""``KSR.lcr``: Kamailio's lcr functions for route scripts, over the proxy's copy of the
lcr tables (:mod:`kamtool.proxy.rule_tables`, selection by
:mod:`kamtool.core.lcr_engine`).

``load_gws(lcr_id[, uri_user[, from_uri]])`` keeps the gateways chosen for the request
(with the transaction, so a failure route's ``next_gw()`` sees them); each ``next_gw()``
sets the R-URI (user stripped and prefixed for the gateway) and ``$du`` for the next one.
``from_gw``/``to_gw`` test the source address or the R-URI host against a gateway's
IP address (and its transport, when the gateway has one). Return codes are Kamailio's:
``load_gws`` 1 when gateways were found, 2 when none, -1 on error; ``from_any_gw`` and
``to_any_gw`` the lcr_id of the gateway found; the others 1 or -1.

Kamailio's lcr modparams, in ``[proxy]``: ``lcr_count`` (lcr_ids 1 to it are served, any
other is an error, -1), ``lcr_tag_avp`` and ``lcr_flags_avp`` (when set, ``next_gw`` and
a matching ``from_gw``/``from_any_gw`` write the gateway's tag and flags there).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from kamtool.core.lcr_engine import TRANSPORTS, LcrError
from kamtool.proxy.ksr.context import MsgContext, current

__all__ = ["lcr_functions"]

_KEY = "\0lcr"  # the avp the selection is kept in: [gateways, next place, R-URI user]


def _tables(ctx: MsgContext) -> Any:
    return getattr(ctx.parts, "rules", None)


def _lcr_count(ctx: MsgContext) -> int:
    return int(getattr(ctx.parts.config, "lcr_count", 1))


def _valid(ctx: MsgContext, lcr_id: int) -> bool:
    """``lcr_id`` is one the module serves (1 to lcr_count)."""
    return 1 <= int(lcr_id) <= _lcr_count(ctx)


def _store(ctx: MsgContext, gw: Any) -> None:
    """The gateway's tag and flags into ``lcr_tag_avp``/``lcr_flags_avp`` (when set)."""
    from kamtool.proxy.ksr import pv

    tag_avp = getattr(ctx.parts.config, "lcr_tag_avp", "") or ""
    flags_avp = getattr(ctx.parts.config, "lcr_flags_avp", "") or ""
    if tag_avp:
        pv.sets(tag_avp, gw.tag or "")
    if flags_avp:
        pv.seti(flags_avp, int(gw.flags or 0))


def _ruri_part(ctx: MsgContext, part: str) -> str:
    value = getattr(ctx.msg.uri, part, None)
    return "" if value is None else str(value)


def _from_uri() -> str:
    from kamtool.proxy.ksr.pv import get

    return str(get("$fu") or "")


def _load(lcr_id: int, uri_user: str, from_uri: str) -> int:
    ctx = current()
    tables = _tables(ctx)
    if tables is None or not _valid(ctx, lcr_id):
        return -1
    try:
        chosen = tables.lcr.select(
            int(lcr_id), uri_user, from_uri, str(ctx.msg.uri), now=time.time()
        )
    except LcrError:
        return -1
    ctx.avps[_KEY] = [[s.gateway for s in chosen], 0, None]
    return 1 if chosen else 2


def load_gws(lcr_id: int) -> int:
    """The gateways for the R-URI user and the From URI."""
    ctx = current()
    return _load(lcr_id, _ruri_part(ctx, "user"), _from_uri())


def load_gws_furi(lcr_id: int, uri_user: str, from_uri: str) -> int:
    return _load(lcr_id, str(uri_user), str(from_uri))


def load_gws_ruser(lcr_id: int, uri_user: str) -> int:
    return _load(lcr_id, str(uri_user), _from_uri())


def next_gw() -> int:
    """The next gateway into the R-URI and ``$du`` (-1 when none is left)."""
    ctx = current()
    kept = ctx.avps.get(_KEY)
    if not kept or kept[1] >= len(kept[0]):
        return -1
    gateways, place, user = kept
    if user is None:  # the user as it was before the first gateway changed it
        user = kept[2] = _ruri_part(ctx, "user")
    gw = gateways[place]
    kept[1] = place + 1
    try:
        ruri, dst = gw.next_hop(user)
    except LcrError:  # strip longer than the user: Kamailio fails next_gw too
        return -1
    ctx.msg.uri = ruri
    ctx.dst_uri = dst
    ctx.avps["\0lcr_gw"] = gw
    _store(ctx, gw)
    return 1


def defunct_gw(period: int) -> int:
    """Take the gateway of the last ``next_gw()`` out of service for ``period`` seconds."""
    gw = current().avps.get("\0lcr_gw")
    if gw is None or int(period) < 0:
        return -1
    gw.defunct = int(time.time()) + int(period)
    return 1


def _same_ip(a: str | None, b: str) -> bool:
    try:
        return a is not None and ipaddress.ip_address(a) == ipaddress.ip_address(b.strip("[]"))
    except ValueError:
        return False


def _gateway_at(lcr_id: int, addr: str, proto: str) -> Any:
    """The gateway of ``lcr_id`` at ``addr`` (and ``proto``, when it has a transport)."""
    tables = _tables(current())
    if tables is None:
        return None
    for gw in tables.lcr.gateways.values():
        if gw.lcr_id != int(lcr_id):
            continue
        if _same_ip(gw.ip_addr, addr) and (
            not gw.transport or TRANSPORTS.get(gw.transport) == proto.lower()
        ):
            return gw
    return None


def _source(ctx: MsgContext) -> tuple[str, str]:
    return str(ctx.addr[0]), str(getattr(ctx.endpoint, "proto", "udp"))


def _target(ctx: MsgContext) -> tuple[str, str]:
    params = getattr(ctx.msg.uri, "params", None) or {}
    proto = params.get("transport") if hasattr(params, "get") else None
    return _ruri_part(ctx, "host"), str(proto or "udp")


def _from(lcr_ids: range, addr: str, transport: str) -> int:
    """The first lcr_id with a gateway at the source (its tag and flags stored), or -1."""
    ctx = current()
    src, proto = (addr, transport or "udp") if addr else _source(ctx)
    for lcr_id in lcr_ids:
        gw = _gateway_at(lcr_id, src, proto)
        if gw is not None:
            _store(ctx, gw)
            return lcr_id
    return -1


def _to(lcr_ids: range, addr: str, transport: str) -> int:
    """The first lcr_id with a gateway at the R-URI host (or ``addr``), or -1."""
    host, proto = (addr, transport or "udp") if addr else _target(current())
    return next((i for i in lcr_ids if _gateway_at(i, host, proto) is not None), -1)


def from_gw(lcr_id: int, addr: str = "", transport: str = "") -> int:
    """The request comes from a gateway of ``lcr_id`` (or ``addr``/``transport`` is one)."""
    if not _valid(current(), lcr_id):
        return -1
    return 1 if _from(range(int(lcr_id), int(lcr_id) + 1), addr, transport) > 0 else -1


def from_any_gw(addr: str = "", transport: str = "") -> int:
    """The lcr_id of the first gateway at the source (lcr_ids in order), or -1."""
    return _from(range(1, _lcr_count(current()) + 1), addr, transport)


def to_gw(lcr_id: int, addr: str = "", transport: str = "") -> int:
    """The R-URI (or ``addr``/``transport``) is the address of a gateway of ``lcr_id``."""
    if not _valid(current(), lcr_id):
        return -1
    return 1 if _to(range(int(lcr_id), int(lcr_id) + 1), addr, transport) > 0 else -1


def to_any_gw(addr: str = "", transport: str = "") -> int:
    """The lcr_id of the first gateway at the R-URI host (or ``addr``), or -1."""
    return _to(range(1, _lcr_count(current()) + 1), addr, transport)


def lcr_functions() -> dict[str, Any]:
    """The ``KSR.lcr`` table."""
    return dict(
        load_gws=load_gws, load_gws_furi=load_gws_furi, load_gws_ruser=load_gws_ruser,
        next_gw=next_gw, defunct_gw=defunct_gw,
        from_gw=from_gw, from_gw_addr=from_gw, from_any_gw=from_any_gw,
        from_any_gw_addr=from_any_gw, to_gw=to_gw, to_gw_addr=to_gw, to_any_gw=to_any_gw,
        to_any_gw_addr=to_any_gw,
    )  # fmt: skip
