"""Where the script's own variables live: ``$var`` (per message, 0 until set), ``$avp``
(per transaction, a stack of values per name), ``$xavp`` (per transaction, lists of
named items with named fields), ``$shv`` (per proxy process, shared by every message,
preset by ``[proxy] shvset``).

Index conventions are Kamailio's: index 0 is the newest value, a negative index counts
from the oldest (-1), ``[*]`` is every value; reading ``[*]`` joins the values with
``", "``.
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.proxy.ksr.context import MsgContext
from kamtool.proxy.ksr.pvspec import ALL

__all__ = ["avp_get", "avp_set", "parse_shvset", "shv_store", "xavp_get", "xavp_set"]

_AVPS = "\0avp"  # ctx.avps key of the script's AVPs: name -> values, newest first
_XAVPS = "\0xavp"  # ctx.avps key of the xavps: name -> items, newest first


def _joined(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _at(values: list[Any], index: int) -> int | None:
    """The list position of Kamailio's ``index`` into ``values`` (None: out of range)."""
    if index < 0:
        index += len(values)
    return index if 0 <= index < len(values) else None


# ------------------------------------------------------------------ $avp


def avp_name(arg: str) -> str:
    """``s:name`` and ``name`` are one AVP (string names); ``i:3`` stays as written."""
    arg = arg.strip()
    return arg[2:] if arg[:2].lower() == "s:" else arg


def _avp_stacks(ctx: MsgContext) -> dict[str, list[Any]]:
    return ctx.avps.setdefault(_AVPS, {})


def avp_get(ctx: MsgContext, name: str, index: Any) -> Any:
    values = (ctx.avps_ or {}).get(_AVPS, {}).get(name)
    if not values:
        return None
    if index == ALL:
        return _joined(values)
    i = _at(values, index or 0)
    return values[i] if i is not None else None


def avp_set(ctx: MsgContext, name: str, index: Any, value: Any) -> None:
    """A value adds to the stack ([n]: replaces that one; [*]: replaces them all);
    None (unset) removes the newest ([n]: that one; [*]: all)."""
    stacks = _avp_stacks(ctx)
    values = stacks.setdefault(name, [])
    if index == ALL:
        values.clear()
        if value is not None:
            values.append(value)
    elif index is None and value is not None:
        values.insert(0, value)
    else:
        i = _at(values, index or 0)
        if i is not None:
            if value is None:
                del values[i]
            else:
                values[i] = value
    if not values:
        del stacks[name]


# ------------------------------------------------------------------ $xavp


class _Item(dict):
    """One xavp item with fields: field name -> values, newest first."""


_XNAME = re.compile(r"\s*(\w+)\s*(?:\[([^\]]*)\])?\s*(?:=>\s*(\w+)\s*(?:\[([^\]]*)\])?)?\s*\Z")


def parse_xavp(arg: str) -> tuple[str, Any, str | None, Any]:
    """``name[i]=>field[j]`` as (name, i, field, j); an index is None, an int or ALL."""
    m = _XNAME.match(arg)
    if m is None:
        raise ValueError(f"$xavp({arg}): expected $xavp(name[index]=>field[index])")

    def index(text: str | None) -> Any:
        if text is None:
            return None
        text = text.strip()
        return ALL if text == ALL else int(text)

    return m.group(1), index(m.group(2)), m.group(3), index(m.group(4))


def _items(ctx: MsgContext, name: str, create: bool = False) -> list[Any]:
    if not create:
        return (ctx.avps_ or {}).get(_XAVPS, {}).get(name) or []
    return ctx.avps.setdefault(_XAVPS, {}).setdefault(name, [])


def xavp_get(ctx: MsgContext, arg: str) -> Any:
    name, idx, fld, fidx = parse_xavp(arg)
    items = _items(ctx, name)
    i = _at(items, 0 if idx in (None, ALL) else idx)
    if i is None:
        return None
    item = items[i]
    if fld is None:
        return f"<<xavp:{id(item):#x}>>" if isinstance(item, _Item) else item
    if not isinstance(item, _Item) or not item.get(fld):
        return None
    values = item[fld]
    if fidx == ALL:
        return _joined(values)
    j = _at(values, fidx or 0)
    return values[j] if j is not None else None


def xavp_set(ctx: MsgContext, arg: str, value: Any) -> bool:
    """Assign (``value``) or remove (None) as Kamailio: ``$xavp(a=>b)`` adds a new item
    ``a`` with field ``b``; ``$xavp(a[0]=>b)`` adds the field to the newest item;
    ``$xavp(a[0]=>b[0])`` replaces its value. False when the item is no structure."""
    name, idx, fld, fidx = parse_xavp(arg)
    if value is None:
        _xavp_remove(ctx, name, idx, fld, fidx)
        return True
    if fld is None:
        items = _items(ctx, name, create=True)
        i = _at(items, idx) if isinstance(idx, int) else None
        if i is not None:
            items[i] = value
        elif idx is None:
            items.insert(0, value)
        return True
    if idx is None:
        _items(ctx, name, create=True).insert(0, _Item({fld: [value]}))
        return True
    items = _items(ctx, name)
    i = _at(items, idx) if idx != ALL else None
    if i is None:
        return True  # Kamailio: nothing to set, no error
    item = items[i]
    if not isinstance(item, _Item):
        return False
    values = item.setdefault(fld, [])
    j = _at(values, fidx) if isinstance(fidx, int) else None
    if j is not None:
        values[j] = value
    elif fidx is None:
        values.insert(0, value)
    return True


def _xavp_remove(ctx: MsgContext, name: str, idx: Any, fld: str | None, fidx: Any) -> None:
    items = _items(ctx, name)
    if fld is None:
        if idx == ALL:
            items.clear()
        elif (i := _at(items, idx or 0)) is not None:
            del items[i]
        return
    if idx == ALL:
        chosen = items
    else:
        i = _at(items, idx or 0)
        chosen = [items[i]] if i is not None else []
    for item in chosen:
        if not isinstance(item, _Item) or fld not in item:
            continue
        values = item[fld]
        if fidx == ALL:
            values.clear()
        elif (j := _at(values, fidx or 0)) is not None:
            del values[j]
        if not values:
            del item[fld]


# ------------------------------------------------------------------ $shv

_SHV_ITEM = re.compile(r"\s*([\w.-]+)\s*=\s*([is]):(.*)\Z", re.S)


def parse_shvset(text: str) -> dict[str, Any]:
    """``[proxy] shvset``, pv's ``shvset`` parameters joined by ``;``: ``name=i:0``
    (an integer) or ``name=s:text`` (a string); ValueError for anything else."""
    out: dict[str, Any] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        m = _SHV_ITEM.match(item)
        if m is None:
            raise ValueError(f"shvset {item.strip()!r}: expected name=i:number or name=s:text")
        name, kind, value = m.groups()
        out[name] = int(value) if kind == "i" else value
    return out


class _Holder:
    """Where the values are kept when a context has no engine (unit tests)."""


_NO_ENGINE = _Holder()


def shv_store(ctx: MsgContext) -> dict[str, Any]:
    """The ``$shv`` values of this proxy process: kept on the script engine, so they
    live as long as the proxy (a script reload keeps them, as Kamailio's shared memory),
    starting from ``[proxy] shvset``."""
    holder = ctx.engine if ctx.engine is not None else _NO_ENGINE
    store = getattr(holder, "_kamtool_shv", None)
    if store is None:
        config = getattr(getattr(ctx, "parts", None), "config", None)
        store = parse_shvset(getattr(config, "shvset", "") or "")
        holder._kamtool_shv = store
    return store
