"""``KSR.dispatcher``: Kamailio's dispatcher functions for route scripts, over the proxy's
dispatcher (every algorithm 0-13, see kamtool/core/dispatch) through
:mod:`kamtool.proxy.ds_ksr`. The selection (Kamailio's ``_dsdst_`` records) travels with
the transaction in the context's avps, so a failure route's ``ds_next_dst()`` and
``ds_mark_dst()`` see it. Return codes are Kamailio's (1 true, -1 false).

Algorithm 7 hashes ``[proxy] ds_hash_pvar`` (Kamailio's ``hash_pvar`` modparam, e.g.
``"$fU@$fd"``), its variables expanded for the request.
"""

from __future__ import annotations

from typing import Any

from kamtool.core.dispatch.uris import domain_ruri
from kamtool.proxy import ds_ksr
from kamtool.proxy.ksr.context import MsgContext, current, db_error, wait_db

__all__ = ["dispatcher_functions"]

_KEY = "\0ds"  # the avp the selection is kept in


def _pv_value(ctx: MsgContext) -> str | None:
    template = getattr(ctx.parts.config, "ds_hash_pvar", "") or ""
    if not template:
        return None
    from kamtool.proxy.ksr.pv import _expand

    return _expand(template)


def _use(ctx: MsgContext, sel: Any, mode: str) -> int:
    """Apply the record in use: ``$du`` (mode "d") or the R-URI's host part ("r")."""
    if sel is None:
        return -1
    ds = ctx.parts.dispatcher
    ctx.avps[_KEY] = (sel, mode)
    ctx.ds_current = ds.find(sel.dest.set_id, sel.dest.uri)
    ctx.ds = [ds.find(d.set_id, d.uri) for d in sel.failover[1:]]
    if mode == "r":
        ctx.msg.uri = domain_ruri(str(ctx.msg.uri), sel.dest.uri)
    elif mode == "d":
        ctx.dst_uri = _du(sel.dest.uri, ctx.ds_current)
    return 1


def _du(uri: str, view: Any) -> str:
    """``$du`` for a destination: its URI; for a name, its resolved address (kamtool's tm
    sends to IP addresses only, where Kamailio resolves the name when it sends)."""
    from kamtool.core.dispatch.resolve import is_ip

    dest = getattr(view, "dest", None)
    if view is None or dest is None or is_ip(view.host):
        return uri
    proto, address, port = dest
    host = f"[{address}]" if ":" in address else address
    scheme = "sips" if proto == "tls" and uri[:5].lower() == "sips:" else "sip"
    return f"{scheme}:{host}:{port}" + ("" if proto == "udp" else f";transport={proto}")


def _select(set_id: int, alg: int, limit: int, mode: str) -> int:
    ctx = current()
    sel = ds_ksr.select_dst(ctx.parts.dispatcher, ctx.msg, set_id, alg, limit, _pv_value(ctx))
    return _use(ctx, sel, mode)


def ds_select_dst(set_id: int, alg: int, limit: int = 0) -> int:
    """``$du`` becomes the destination of ``set_id`` chosen by ``alg``; the others wait for
    ``ds_next_dst()`` (at most ``limit`` in all, 0 no limit)."""
    return _select(set_id, alg, limit, "d")


def ds_select_domain(set_id: int, alg: int, limit: int = 0) -> int:
    """As :func:`ds_select_dst`, rewriting the R-URI's host part instead of ``$du``."""
    return _select(set_id, alg, limit, "r")


def ds_select(set_id: int, alg: int, limit: int = 0) -> int:
    """Only the records (Kamailio's mode 2): neither ``$du`` nor the R-URI changes."""
    return _select(set_id, alg, limit, "x")


def ds_select_routes(rules: str, mode: str, limit: int = 0) -> int:
    """``ds_select_routes("1=4;2=8", "d"|"r"|"x"|0|1|2[, limit])``."""
    ctx = current()
    first = str(mode)[:1].lower()
    use = {"0": "d", "d": "d", "1": "r", "r": "r", "2": "x", "x": "x"}.get(first)
    if use is None:
        return -1
    sel = ds_ksr.select_routes(ctx.parts.dispatcher, ctx.msg, str(rules), limit, _pv_value(ctx))
    return _use(ctx, sel, use)


def _next(want_mode: str) -> int:
    ctx = current()
    sel, _mode = ctx.avps.get(_KEY, (None, None))
    nxt = ds_ksr.next_dst(ctx.parts.dispatcher, sel)
    if nxt is None:
        return -1
    return _use(ctx, sel, want_mode)


def ds_next_dst() -> int:
    """The next record into ``$du`` (-1 when none is left)."""
    return _next("d")


def ds_next_domain() -> int:
    """The next record into the R-URI's host part."""
    return _next("r")


def ds_mark_dst(state: str = "ip") -> int:
    """Mark the record in use (``i``, ``a``, ``d``, ``t``, with ``p`` for probing)."""
    ctx = current()
    sel, _mode = ctx.avps.get(_KEY, (None, None))
    try:
        return 1 if ds_ksr.mark_dst(ctx.parts.dispatcher, sel, str(state)) else -1
    except ValueError:
        return -1


def ds_is_from_list(group: int = -1, mode: int = 2, uri: str = "") -> int:
    """The request's source (or ``uri``'s address) belongs to set ``group`` (-1: any)."""
    ctx = current()
    addr, proto = ctx.addr, str(getattr(ctx.endpoint, "proto", "udp")).lower()
    if uri:
        from kamtool.sip.errors import ParseError
        from kamtool.sip.uri import parse_uri

        try:
            parsed = parse_uri(str(uri))
        except ParseError:
            return -1
        host, port = getattr(parsed, "host", ""), getattr(parsed, "port", None) or 5060
        addr, proto = (host, port), str(getattr(parsed, "transport", "") or "udp")
    found = ds_ksr.is_from_list(ctx.parts.dispatcher, addr, proto, int(group), int(mode))
    return 1 if found is not None else -1


def ds_list_exists(set_id: int) -> int:
    return 1 if ds_ksr.list_exists(current().parts.dispatcher, set_id) else -1


def ds_load_update() -> int:
    ctx = current()
    ds_ksr.load_update(ctx.parts.dispatcher, ctx.reply if ctx.reply is not None else ctx.msg)
    return 1


def ds_load_unset() -> int:
    ctx = current()
    return 1 if ds_ksr.load_unset(ctx.parts.dispatcher, ctx.msg) else -1


def ds_is_active_uri(set_id: int, uri: str = "") -> int:
    """1 when set ``set_id`` has a destination neither inactive nor disabled (with ``uri``:
    that destination, its URI compared as written); -1 otherwise."""
    dispatcher = current().parts.dispatcher
    if dispatcher is None:
        return -1
    uri = str(uri or "")
    for dest in dispatcher.sets().get(int(set_id), ()):
        if dest.usable and (not uri or dest.uri == uri):
            return 1
    return -1


def ds_reload() -> int:
    """Re-read the dispatcher table (on the database worker): 1, or -1 when it cannot be
    read (the sets stay as they were)."""
    ctx = current()
    dispatcher = ctx.parts.dispatcher
    if dispatcher is None:
        return -1
    try:
        rows = wait_db(dispatcher.read_rows)
    except Exception as exc:
        return db_error(ctx, "ds_reload", exc)
    dispatcher.replace(rows)
    return 1


def dispatcher_functions() -> dict[str, Any]:
    """The ``KSR.dispatcher`` table."""
    return dict(
        ds_select_dst=ds_select_dst, ds_select_dst_limit=ds_select_dst,
        ds_select_domain=ds_select_domain, ds_select_domain_limit=ds_select_domain,
        ds_select=ds_select, ds_select_limit=ds_select,
        ds_select_routes=ds_select_routes, ds_select_routes_limit=ds_select_routes,
        ds_next_dst=ds_next_dst, ds_next_domain=ds_next_domain, ds_mark_dst=ds_mark_dst,
        ds_mark_dst_state=ds_mark_dst, ds_is_from_list=ds_is_from_list,
        ds_is_from_lists=ds_is_from_list, ds_list_exists=ds_list_exists,
        ds_load_update=ds_load_update, ds_load_unset=ds_load_unset,
        ds_is_active=lambda set_id: ds_is_active_uri(set_id), ds_is_active_uri=ds_is_active_uri,
        ds_reload=ds_reload,
    )  # fmt: skip
