"""The dispatcher functions of route scripts (``KSR.dispatcher.*``) over the proxy's
:class:`~kamtool.proxy.dispatcher.Dispatcher` and a parsed request, independent of how the
KSR layer keeps its per-message state: it stores the :class:`Selection` these return (the
``_dsdst_`` records Kamailio keeps in xavps) with the transaction and hands it back to
:func:`next_dst` and :func:`mark_dst` in the failure route.

What the hash algorithms read is taken from the request as Kamailio takes it: the
Call-ID, the From/To URIs as written, the R-URI, the user part of the digest user name of
the first Proxy-Authorization (else Authorization) header; the ``hash_pvar`` value is
the script's to expand and pass.
"""

from __future__ import annotations

from typing import Any

from kamtool.core.dispatch.model import DsDest, DsRequest, SelectError, Selection
from kamtool.core.dispatch.uris import domain_ruri

__all__ = [
    "is_from_list", "list_exists", "load_unset", "load_update", "mark_dst", "next_dst",
    "request_of", "select_dst", "select_routes",
]  # fmt: skip


def _text(read: Any) -> str:
    try:
        value = read()
    except Exception:  # a malformed header: the algorithm finds nothing to hash
        return ""
    return "" if value is None else str(value)


def request_of(msg: Any, pv_value: str | None = None) -> DsRequest:
    """What the selection reads from ``msg`` (a :class:`kamtool.sip.message.Request`)."""
    auth_user = None
    for creds in (lambda: msg.proxy_authorizations, lambda: msg.authorizations):
        found = _try_list(creds)
        if found:
            auth_user = found[0].get("username")
            break
    return DsRequest(
        call_id=_text(lambda: msg.call_id),
        from_uri=_text(lambda: msg.from_.uri),
        to_uri=_text(lambda: msg.to.uri),
        ruri=_text(lambda: msg.uri),
        auth_user=auth_user,
        pv_value=pv_value,
        method=str(getattr(msg, "method", "")),
    )


def _try_list(read: Any) -> list[Any]:
    try:
        return list(read() or [])
    except Exception:
        return []


def select_dst(dispatcher: Any, msg: Any, set_id: int, alg: int, limit: int = 0,
               pv_value: str | None = None) -> Selection | None:  # fmt: skip
    """``ds_select_dst``/``ds_select``: the selection ($du = ``selection.dest.uri``), None
    when nothing is selected (-1 in the script)."""
    if dispatcher is None or dispatcher.engine is None:
        return None
    try:
        return dispatcher.engine.select(int(set_id), int(alg), request_of(msg, pv_value),
                                        int(limit))  # fmt: skip
    except SelectError:
        return None


def select_domain(dispatcher: Any, msg: Any, set_id: int, alg: int, limit: int = 0,
                  pv_value: str | None = None) -> tuple[Selection, str] | None:  # fmt: skip
    """``ds_select_domain``: the selection and the new R-URI."""
    sel = select_dst(dispatcher, msg, set_id, alg, limit, pv_value)
    if sel is None:
        return None
    return sel, domain_ruri(_text(lambda: msg.uri), sel.dest.uri)


def select_routes(dispatcher: Any, msg: Any, rules: str, limit: int = 0,
                  pv_value: str | None = None) -> Selection | None:  # fmt: skip
    """``ds_select_routes("1=4;2=8", mode[, limit])``."""
    if dispatcher is None or dispatcher.engine is None:
        return None
    try:
        return dispatcher.engine.select_routes(rules, request_of(msg, pv_value), int(limit))
    except (SelectError, ValueError):
        return None


def next_dst(dispatcher: Any, sel: Selection | None) -> DsDest | None:
    """``ds_next_dst``/``ds_next_domain``: the next record (the call's load moves to it),
    None when used up."""
    if sel is None or dispatcher is None or dispatcher.engine is None:
        return None
    return dispatcher.engine.next_dst(sel)


def mark_dst(dispatcher: Any, sel: Selection | None, state: str = "ip") -> bool:
    """``ds_mark_dst(state)`` for the record in use."""
    if sel is None or dispatcher is None:
        return False
    return bool(dispatcher.mark(dispatcher.find(sel.dest.set_id, sel.dest.uri), state))


def is_from_list(dispatcher: Any, addr: tuple[str, int], proto: str = "udp",
                 group: int = -1, mode: int = 2) -> int | None:  # fmt: skip
    """``ds_is_from_list([group[, mode]])``: the set the source address belongs to (mode
    2, the default: any transport), None when none."""
    if dispatcher is None or dispatcher.engine is None:
        return None
    dispatcher.address_matched()  # ds_dns_mode 2: the names looked up again
    return dispatcher.engine.is_from(addr[0], int(addr[1]), proto, int(group), int(mode))


def list_exists(dispatcher: Any, set_id: int) -> bool:
    """``ds_list_exists(set)``."""
    return bool(dispatcher and dispatcher.engine and dispatcher.engine.exists(int(set_id)))


def load_update(dispatcher: Any, msg: Any) -> None:
    """``ds_load_update``: a BYE or CANCEL frees the call's slot; a 2xx to the INVITE
    confirms it."""
    if dispatcher is None or dispatcher.engine is None:
        return
    call_id = _text(lambda: msg.call_id)
    if getattr(msg, "is_request", False):
        dispatcher.engine.load_update(call_id, str(msg.method))
        return
    cseq = getattr(msg, "cseq", None)
    dispatcher.engine.load_update(call_id, "", int(getattr(msg, "status", 0)),
                                  str(getattr(cseq, "method", "")))  # fmt: skip


def load_unset(dispatcher: Any, msg: Any) -> bool:
    """``ds_load_unset``: free the call's slot now."""
    if dispatcher is None or dispatcher.engine is None:
        return False
    return dispatcher.engine.load_unset(_text(lambda: msg.call_id))
