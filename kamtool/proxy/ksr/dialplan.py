"""``KSR.dialplan`` and ``KSR.mtree``: Kamailio's dialplan and mtree functions for route
scripts, over the proxy's copies of the tables (:mod:`kamtool.proxy.rule_tables`).

Return codes are Kamailio's: 1 when a rule translated (a prefix matched), -1 when not.
``dp_translate(dpid, "$rU/$rU")`` names the variables to read and write; ``dp_replace``
and ``dp_match`` take the input value itself (a KEMI script expands variables itself).
The matching rule's attrs go to ``[proxy] dp_attrs_pvar`` (Kamailio's ``attrs_pvar``)
when it is set; ``mt_match`` writes the value found to ``[proxy] mt_pv_value``
(Kamailio's ``pv_value``, default ``$avp(s:tvalue)``).
"""

from __future__ import annotations

from typing import Any

from kamtool.core.dialplan_engine import Message, Translation
from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import current

__all__ = ["dialplan_functions", "mtree_functions"]


def _tables() -> Any:
    return getattr(current().parts, "rules", None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _translate(dpid: int, value: str) -> Translation | None:
    tables = _tables()
    if tables is None or not value:
        return None
    ctx = current()
    message = Message(ruri=_text(ctx.msg.uri), pv=lambda name: _value(name))
    dynamic = bool(getattr(ctx.parts.config, "dp_match_dynamic", False))
    found = tables.dialplan.translate(int(dpid), value, message, dynamic=dynamic)
    attrs_pvar = getattr(ctx.parts.config, "dp_attrs_pvar", "") or ""
    if found is not None and attrs_pvar:
        pv.sets(attrs_pvar, found.attrs)
    return found


def _value(name: str) -> str | None:
    value = pv.get(name)
    return None if value is None else str(value)


def dp_match(dpid: int, src: str) -> int:
    """1 when a rule of ``dpid`` translates ``src`` (its attrs set, nothing written)."""
    return 1 if _translate(dpid, _text(src)) is not None else -1


def dp_replace(dpid: int, src: str, dst: str) -> int:
    """Translate the value ``src`` and write the output to the variable ``dst``."""
    found = _translate(dpid, _text(src))
    if found is None:
        return -1
    return 1 if pv.sets(dst, found.output) > 0 else -1


def dp_translate(dpid: int, spec: str = "$rU/$rU") -> int:
    """``dp_translate(dpid, "src/dst")``: the variable ``src`` translated into ``dst``
    (one name for both when there is no ``/``)."""
    src, _, dst = str(spec).partition("/")
    src = src.strip()
    dst = dst.strip() or src
    if not src:
        return -1
    return dp_replace(dpid, _text(_value(src)), dst)


def dp_translate_id(dpid: int) -> int:
    """``dp_translate(dpid)``: ``$rU`` translated in place."""
    return dp_translate(dpid, "$rU/$rU")


def dp_translate_vars(dpid: int, src: str, dst: str) -> int:
    """As :func:`dp_translate` with the two variable names apart."""
    return dp_replace(dpid, _text(_value(src)), dst)


def dialplan_functions() -> dict[str, Any]:
    """The ``KSR.dialplan`` table."""
    return dict(dp_match=dp_match, dp_replace=dp_replace, dp_translate=dp_translate,
                dp_translate_id=dp_translate_id, dp_translate_vars=dp_translate_vars)  # fmt: skip


def mt_match(tname: str, value: str, mode: int = 0) -> int:
    """Mode 0: the value of the longest prefix of ``value`` in tree ``tname`` into
    ``mt_pv_value``; mode 2: every value on the way, shortest first (the variable keeps
    the last, the longest, as an AVP's top value does in Kamailio). Mode 1 (the
    dispatcher-style tree type 1) is not supported: -1."""
    tables = _tables()
    mode = int(mode)
    if tables is None or mode not in (0, 2) or str(tname) not in tables.mtree:
        return -1
    found = tables.mtree.walk(str(tname), _text(value))
    if not found:
        return -1
    target = getattr(current().parts.config, "mt_pv_value", "") or "$avp(s:tvalue)"
    pv.sets(target, found[-1].value)
    return 1


def mtree_functions() -> dict[str, Any]:
    """The ``KSR.mtree`` table."""
    return {"mt_match": mt_match}
