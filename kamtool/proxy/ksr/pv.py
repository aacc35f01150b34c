"""``KSR.pv`` (pseudo-variables) and ``KSR.kx`` (their getters as functions).

``pv.get`` returns None for a variable without a value, a str, or an int for the ones
Kamailio types as integers (see :mod:`kamtool.proxy.ksr.pvmsg`; numbers stored in
``$var``/``$avp``/``$xavp``/``$shv``/``$sht``). Names are Kamailio's, with indexes and
transformations (``$(hdr(Via)[-1])``, ``$(ru{uri.user})``; :mod:`.pvspec`).
``pv.gete`` gives "" instead of None, ``getw`` "<null>", ``geti`` 0, ``getvn``/``getvs``
a default of the caller's. ``sets``/``seti``/``unset`` return True, as Kamailio's
(setting one Kamailio cannot set, such as ``$ua``, does nothing).

A name that is no variable, or one kamtool does not know, reads as None and cannot be
set (False), as in Kamailio; the error is logged once per name, not once per message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr import pvstores
from kamtool.proxy.ksr.context import DLG_VARS, MsgContext, e_and_w, field, state
from kamtool.proxy.ksr.pvmsg import GETTERS, INT_NAMES, READ_ONLY, SETTERS, uri_user
from kamtool.proxy.ksr.pvspec import ALL, Spec, parse, pieces
from kamtool.proxy.ksr.transforms import apply
from kamtool.sip.errors import LocalProtocolError
from kamtool.sip.uri import SipURI

__all__ = ["GETTERS", "INT_NAMES", "functions", "get", "kx_functions", "sets", "seti", "unset"]

log = logging.getLogger("kamtool.route")

_uri_user = uri_user  # (registrar.py's import)


class _Unknown(Exception):
    """A name kamtool cannot read or set (logged once, then None/False)."""


_REPORTED: set[str] = set()


def _report(name: str, why: str) -> None:
    """Log an unusable variable name once (Kamailio logs it at every use)."""
    if name not in _REPORTED and len(_REPORTED) < _CACHE_MAX:
        _REPORTED.add(name)
        log.error("pseudo-variable %r: %s (it reads as null; logged once)", name, why)


def _template(text: str) -> Callable[[MsgContext], str]:
    """A name with variables inside (``ipban=>$si``) as a function of the context that
    writes each variable's value in its place."""
    if "$" not in text:
        return lambda _ctx: text
    parts: list[Any] = [p if isinstance(p, str) else _getter(p[0])
                        for p in pieces(text, strict=False)]  # fmt: skip

    def write(ctx: MsgContext) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = part(ctx)
                out.append("" if value is None else str(value))
        return "".join(out)

    return write


def _expand(text: str) -> str:
    """``text`` with the variables in it replaced by their values for the running route."""
    return _template(text)(state.ctx)


def _table(ctx: MsgContext, name: str) -> Any:
    store = ctx.parts.htables
    ht = store.get(name) if store is not None else None
    if ht is None:
        raise _Unknown(f"no htable named {name!r}")
    return ht


def _sht_ref(arg: str) -> tuple[str, Callable[[MsgContext], str]]:
    table, sep, key = arg.partition("=>")
    if not sep:
        raise _Unknown(f"$sht({arg}): expected $sht(table=>key)")
    return table.strip(), _template(key)


def _dialog_vars(ctx: MsgContext) -> dict[str, Any]:
    return ctx.avps.setdefault(DLG_VARS, {})


def _index_of(spec: Spec) -> Callable[[MsgContext], Any]:
    index = spec.index
    if isinstance(index, str) and index != ALL:  # a variable: $(avp(a)[$var(i)])
        read = _getter(index)
        return lambda c: int(read(c) or 0)
    return lambda _c: index


def _header_value(ctx: MsgContext, name: str, index: Any) -> Any:
    lines = ctx.msg.headers.get_lines(name)
    if not lines:
        return None
    if index == ALL:
        return ",".join(lines)  # Kamailio joins header bodies with "," alone
    i = (index or 0) + (len(lines) if (index or 0) < 0 else 0)
    return lines[i] if 0 <= i < len(lines) else None


# pseudo-variables other KSR modules define, by name: a function of the text in the
# parentheses giving the reader (ValueError: not a valid name): sqlops' $dbr and
# $sqlrows, htable's $shtitkey and $shtitval
NAMED: dict[str, Callable[[str], Callable[[MsgContext], Any]]] = {}


def _shv_name(arg: str) -> str:
    return arg.strip()


def _base_getter(spec: Spec) -> Callable[[MsgContext], Any]:
    """The reader of the variable itself (index included, transformations not)."""
    pv, arg = spec.pv, spec.arg
    if arg is None:
        getter = GETTERS.get(pv)
        if getter is None:
            raise _Unknown(f"${pv} is not a pseudo-variable kamtool knows")
        return getter
    index = _index_of(spec)
    if pv == "hdr":
        header = _template(arg)
        return lambda c: _header_value(c, header(c), index(c))
    if pv == "hdrc":
        header = _template(arg)
        return lambda c: len(c.msg.headers.get_lines(header(c)))
    if pv == "var":
        name = arg.strip()
        return lambda c: (c.vars_ or {}).get(name, 0)  # never set: 0, as Kamailio
    if pv == "avp":
        name = pvstores.avp_name(arg)
        return lambda c: pvstores.avp_get(c, name, index(c))
    if pv == "xavp":
        pvstores.parse_xavp(arg)  # a bad name is an error now, not at each use
        if spec.index is not None:  # $(xavp(a=>b)[*]): null in Kamailio (a=>b[*] is not)
            return _null
        return lambda c: pvstores.xavp_get(c, arg)
    if pv == "shv":
        name = _shv_name(arg)
        return lambda c: pvstores.shv_store(c).get(name, 0)
    if pv == "dlg_var":
        return lambda c: _dialog_vars(c).get(arg)
    if pv == "sht":
        table, key = _sht_ref(arg)

        def sht(c: MsgContext) -> Any:
            item = _table(c, table).get(key(c))
            return item.value if item is not None else None

        return sht
    if (named := NAMED.get(pv)) is not None:
        try:
            return named(arg)
        except ValueError as exc:
            raise _Unknown(str(exc)) from None
    raise _Unknown(f"${pv}(...) is not a pseudo-variable kamtool knows")


_SPECS: dict[str, Spec | None] = {}  # names seen, parsed (None: not a variable)
_GETTERS: dict[str, Callable[[MsgContext], Any]] = {}  # names seen -> their getters
_CACHE_MAX = 4096  # scripts use a few dozen names; names built at run time are not kept


def _spec(name: str) -> Spec:
    try:
        spec = _SPECS[name]
    except (KeyError, TypeError):
        try:
            spec = parse(name)
        except ValueError as exc:
            spec = None
            _report(str(name), str(exc))
        if len(_SPECS) < _CACHE_MAX:
            _SPECS[name] = spec
    if spec is None:
        raise _Unknown("not a pseudo-variable")
    return spec


def _null(_ctx: MsgContext) -> None:
    return None


def _getter(name: str) -> Callable[[MsgContext], Any]:
    """The function reading ``name`` from a context (made once per name); a name that
    cannot be read gives a reader of None (the error logged once)."""
    getter = _GETTERS.get(name)
    if getter is not None:
        return getter
    try:
        spec = _spec(name)
        base = _base_getter(spec)
    except _Unknown as exc:
        _report(str(name), str(exc))
        getter = _null
    else:
        if spec.transforms:
            trs = spec.transforms

            def getter(c: MsgContext) -> Any:
                return apply(trs, base(c), lambda p: _getter(p)(c))

        else:
            getter = base
    if len(_GETTERS) < _CACHE_MAX:
        _GETTERS[name] = getter
    return getter


def known(name: str) -> bool:
    """True when ``name`` is a pseudo-variable kamtool can read (xlog refuses a format
    naming one it cannot, as Kamailio's does)."""
    return _getter(name) is not _null


def get(name: str) -> Any:
    """``$name`` / ``$name(arg)`` / ``$(name...)``: its value, None when it has none."""
    getter = _GETTERS.get(name) or _getter(name)
    try:
        return getter(state.ctx)
    except _Unknown as exc:  # an htable that does not exist
        _report(str(name), str(exc))
        return None


def getvn(name: str, default: int) -> Any:
    value = get(name)
    return default if value is None else value


def getvs(name: str, default: str) -> Any:
    value = get(name)
    return default if value is None else value


gete, getw = e_and_w(get)


def geti(name: str) -> int:
    """The value as an int: a number as it is, a string's number, else 0."""
    value = get(name)
    if value is None:
        return 0
    if isinstance(value, int):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def is_null(name: str) -> bool:
    return get(name) is None


def _set_ruri(ctx: MsgContext, pv: str, value: Any) -> bool:
    msg = ctx.msg
    if not msg.is_request:
        return False
    if pv == "ru":
        msg.uri = str(value)
        return True
    uri = field(msg, "uri")
    if not isinstance(uri, SipURI):
        return False
    part = {"rU": "user", "rd": "host", "rp": "port"}[pv]
    msg.uri = uri.replace(**{part: int(value) if pv == "rp" else str(value)})
    return True


def _assign(spec: Spec, value: Any) -> bool:
    """Set (or, ``value`` None, unset) the variable of ``spec``."""
    ctx = state.ctx
    pv, arg = spec.pv, spec.arg
    if arg is not None:
        if pv == "var":  # unset: 0 (Kamailio's $var has no null)
            ctx.vars[arg.strip()] = 0 if value is None else value
        elif pv == "avp":
            index = _index_of(spec)(ctx)
            pvstores.avp_set(ctx, pvstores.avp_name(arg), index, value)
        elif pv == "xavp":
            return pvstores.xavp_set(ctx, arg, value)
        elif pv == "shv":
            pvstores.shv_store(ctx)[_shv_name(arg)] = 0 if value is None else value
        elif pv == "dlg_var":
            if value is None:
                _dialog_vars(ctx).pop(arg, None)
            else:
                _dialog_vars(ctx)[arg] = value
        elif pv == "sht":
            table, key = _sht_ref(arg)
            if value is None:
                _table(ctx, table).delete(key(ctx))
            else:
                _table(ctx, table).set(key(ctx), value)
        elif pv in ("hdr", "hdrc"):
            return True  # read-only in Kamailio too: nothing done, True
        else:
            raise _Unknown(f"${pv}(...) is not a pseudo-variable kamtool knows")
        return True
    if pv == "du":
        ctx.dst_uri = str(value) if value else None
        return True
    if pv in ("ru", "rU", "rd", "rp"):
        return value is not None and _set_ruri(ctx, pv, value)
    setter = SETTERS.get(pv)
    if setter is not None:
        return setter(ctx, value) if value is not None else True
    if pv in READ_ONLY:
        return True  # Kamailio: no setter, nothing done, True
    raise _Unknown(f"${pv} is not a pseudo-variable kamtool knows")


def _set(name: str, value: Any) -> bool:
    try:
        return bool(_assign(_spec(name), value))
    except _Unknown as exc:
        _report(str(name), str(exc))
        return False
    except (LocalProtocolError, ValueError) as exc:  # a value the header/URI cannot take
        log.error("cannot set %s to %r: %s", name, value, exc)
        return False


def sets(name: str, value: str) -> bool:
    return _set(name, str(value))


def seti(name: str, value: int) -> bool:
    return _set(name, int(value))


def unset(name: str) -> bool:
    return _set(name, None)


def functions() -> dict[str, Any]:
    """``KSR.pv``."""
    return dict(get=get, gete=gete, getvn=getvn, getvs=getvs, getw=getw, geti=geti,
                is_null=is_null, sets=sets, seti=seti, unset=unset)  # fmt: skip


_KX_INT = frozenset({"sp", "Rp", "rs"})


def _kx(pv: str) -> Callable[[], Any]:
    def getter() -> Any:
        value = GETTERS[pv](state.ctx)
        if pv in _KX_INT:
            return -1 if value is None else value
        return "" if value is None else str(value)

    return getter


# KSR.kx: name -> the pseudo-variable it reads (strings: "" when absent; ints: -1)
KX = {
    "get_ruri": "ru", "get_ruser": "rU", "get_rhost": "rd", "get_duri": "du",
    "get_furi": "fu", "get_fuser": "fU", "get_fhost": "fd", "get_turi": "tu",
    "get_tuser": "tU", "get_thost": "td", "get_callid": "ci", "get_method": "rm",
    "get_srcip": "si", "get_srcport": "sp", "get_rcvip": "Ri", "get_rcvport": "Rp",
    "get_proto": "pr", "get_ua": "ua", "gete_ua": "ua", "get_status": "rs",
    "get_body": "rb", "get_au": "au", "gete_au": "au", "gete_ruser": "rU",
    "gete_fuser": "fU", "gete_tuser": "tU", "gete_rhost": "rd", "gete_fhost": "fd",
    "gete_thost": "td", "get_fuser_e": "fU",
}  # fmt: skip


def kx_functions() -> dict[str, Any]:
    """``KSR.kx``."""
    return {name: _kx(pv) for name, pv in KX.items()}
