"""``KSR.pv`` (pseudo-variables) and ``KSR.kx`` (their getters as functions).

``pv.get`` returns None for a variable without a value, a str, or an int for the ones
Kamailio types as integers (``$sp``, ``$Rp``, ``$rs``, ``$cs``, ``$rp``, ``$T_branch_idx``
and numbers stored in ``$var``/``$avp``/``$sht``). ``pv.gete`` gives "" instead of None,
``getvn``/``getvs`` a default of the caller's. A variable kamtool does not know raises
an error naming it, so a script meets a gap at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, field, state
from kamtool.proxy.ksr.core import method_of
from kamtool.proxy.ksr.namespace import KsrNameError
from kamtool.sip.uri import SipURI, TelURI

_PV = re.compile(r"^\$(\w+)(?:\((.*)\))?$", re.S)
_INNER = re.compile(r"\$\w+(?:\([^()]*\))?")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _ruri(ctx: MsgContext) -> Any:
    return field(ctx.msg, "uri") if ctx.msg.is_request else None


def _ruser(ctx: MsgContext) -> str | None:
    return _uri_user(_ruri(ctx))


def _uri_user(uri: Any) -> str | None:
    """$rU of a parsed R-URI: a SIP URI's user, a tel: URI's number."""
    if isinstance(uri, TelURI):
        return uri.number or None
    return getattr(uri, "user", None)


def _rport(ctx: MsgContext) -> int | None:
    uri = _ruri(ctx)
    if uri is None:
        return None
    return getattr(uri, "port", None) or 5060


def _name_addr(ctx: MsgContext, which: str) -> Any:
    return field(ctx.msg, which)


def _uri_of(ctx: MsgContext, which: str) -> Any:
    na = _name_addr(ctx, which)
    return na.uri if na is not None else None


def _credentials(ctx: MsgContext) -> Any:
    msg = ctx.msg
    if not msg.is_request:
        return None
    creds = field(msg, "authorizations") or field(msg, "proxy_authorizations")
    return creds[0] if creds else None


def _credential(ctx: MsgContext, name: str) -> str | None:
    """A parameter of the first credentials (kamtool.sip.headers.Credentials.get)."""
    creds = _credentials(ctx)
    return creds.get(name) if creds is not None else None


def _header(ctx: MsgContext, name: str) -> str | None:
    return ctx.msg.headers.get(name)


def _cseq(ctx: MsgContext) -> int | None:
    c = field(ctx.msg, "cseq")
    return c.num if c is not None else None


def _local(ctx: MsgContext) -> Any:
    return getattr(ctx.endpoint, "listen", None)


# the pseudo-variables without a name inside parentheses: $name -> getter(ctx)
GETTERS: dict[str, Callable[[MsgContext], Any]] = {
    "ru": lambda c: c.msg.uri_text if c.msg.is_request else None,
    "rU": _ruser,
    "rd": lambda c: getattr(_ruri(c), "host", None),
    "rp": _rport,
    "rz": lambda c: getattr(_ruri(c), "scheme", None),
    "du": lambda c: c.dst_uri,
    "fu": lambda c: _text(_uri_of(c, "from_")),
    "fU": lambda c: getattr(_uri_of(c, "from_"), "user", None),
    "fd": lambda c: getattr(_uri_of(c, "from_"), "host", None),
    "fn": lambda c: getattr(_name_addr(c, "from_"), "display_name", None),
    "ft": lambda c: field(c.msg, "from_tag"),
    "tu": lambda c: _text(_uri_of(c, "to")),
    "tU": lambda c: getattr(_uri_of(c, "to"), "user", None),
    "td": lambda c: getattr(_uri_of(c, "to"), "host", None),
    "tt": lambda c: field(c.msg, "to_tag"),
    "ci": lambda c: field(c.msg, "call_id"),
    "cs": _cseq,
    "rm": lambda c: method_of(c.msg),
    "rs": lambda c: None if c.msg.is_request else c.msg.status,
    "rr": lambda c: None if c.msg.is_request else c.msg.reason,
    "si": lambda c: c.addr[0],
    "sp": lambda c: c.addr[1],
    "Ri": lambda c: getattr(_local(c), "host", None),
    "Rp": lambda c: getattr(_local(c), "port", None),
    "pr": lambda c: getattr(c.endpoint, "proto", "udp"),
    "proto": lambda c: getattr(c.endpoint, "proto", "udp"),
    "ua": lambda c: _header(c, "user-agent"),
    "au": lambda c: _credential(c, "username"),
    "ar": lambda c: _credential(c, "realm"),
    "ct": lambda c: _header(c, "contact"),
    "rb": lambda c: c.msg.body.decode("utf-8", "replace") if c.msg.body else None,
    "mb": lambda c: c.msg.to_bytes().decode("utf-8", "replace"),
    "T_branch_idx": lambda c: c.branch_idx,
    "T_reply_code": lambda c: c.reply_code or None,
}
INT_NAMES = frozenset({"rp", "cs", "rs", "sp", "Rp", "T_branch_idx", "T_reply_code"})


def _template(text: str) -> Callable[[MsgContext], str]:
    """A name with variables inside (``ipban=>$si``) as a function of the context that
    writes each variable's value in its place."""
    if "$" not in text:
        return lambda _ctx: text
    whole = _INNER.fullmatch(text) if text.startswith("$") else None
    if whole is not None:  # the usual key: one variable ($si)
        one = _getter(text)
        return lambda ctx: "" if (v := one(ctx)) is None else str(v)
    parts: list[Any] = []
    pos = 0
    for m in _INNER.finditer(text):
        parts.append(text[pos : m.start()])
        parts.append(_getter(m.group(0)))
        pos = m.end()
    parts.append(text[pos:])

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
        raise KsrNameError(f"$sht: no htable named {name!r}")
    return ht


def _sht_ref(arg: str) -> tuple[str, Callable[[MsgContext], str]]:
    table, sep, key = arg.partition("=>")
    if not sep:
        raise KsrNameError(f"$sht({arg}): expected $sht(table=>key)")
    return table.strip(), _template(key)


def _dialog_vars(ctx: MsgContext) -> dict[str, Any]:
    return ctx.avps.setdefault("\0dlg_var", {})


_SPLIT: dict[str, tuple[str, str | None]] = {}  # names seen, parsed
_GETTERS: dict[str, Callable[[MsgContext], Any]] = {}  # names seen -> their getters
_CACHE_MAX = 4096  # scripts use a few dozen names; names built at run time are not kept


def _split(name: str) -> tuple[str, str | None]:
    parsed = _SPLIT.get(name)
    if parsed is not None:
        return parsed
    m = _PV.match(str(name).strip())
    if m is None:
        raise KsrNameError(f"{name!r} is not a pseudo-variable ($name or $name(arg))")
    parsed = m.group(1), m.group(2)
    if len(_SPLIT) < _CACHE_MAX:
        _SPLIT[name] = parsed
    return parsed


def _getter(name: str) -> Callable[[MsgContext], Any]:
    """The function reading ``name`` from a context (made once per name)."""
    getter = _GETTERS.get(name)
    if getter is not None:
        return getter
    pv, arg = _split(name)
    if arg is None:
        getter = GETTERS.get(pv)
        if getter is None:
            raise KsrNameError(f"pseudo-variable ${pv} is not supported by kamtool")
    elif pv == "hdr":
        header = _template(arg)
        getter = lambda c: c.msg.headers.get(header(c))  # noqa: E731
    elif pv == "var":
        getter = lambda c: c.vars.get(arg)  # noqa: E731
    elif pv == "avp":
        getter = lambda c: c.avps.get(arg)  # noqa: E731
    elif pv == "dlg_var":
        getter = lambda c: _dialog_vars(c).get(arg)  # noqa: E731
    elif pv == "sht":
        table, key = _sht_ref(arg)

        def getter(c: MsgContext) -> Any:
            item = _table(c, table).get(key(c))
            return item.value if item is not None else None

    else:
        raise KsrNameError(f"pseudo-variable ${pv}(...) is not supported by kamtool")
    if len(_GETTERS) < _CACHE_MAX:
        _GETTERS[name] = getter
    return getter


def get(name: str) -> Any:
    """``$name`` / ``$name(arg)``: its value, None when it has none."""
    getter = _GETTERS.get(name) or _getter(name)
    return getter(state.ctx)


def gete(name: str) -> Any:
    value = get(name)
    return "" if value is None else value


def getvn(name: str, default: int) -> Any:
    value = get(name)
    return default if value is None else value


def getvs(name: str, default: str) -> Any:
    value = get(name)
    return default if value is None else value


def getw(name: str) -> Any:
    value = get(name)
    return "<<null>>" if value is None else value


def is_null(name: str) -> bool:
    return get(name) is None


def _set(name: str, value: Any) -> int:
    ctx = state.ctx
    pv, arg = _split(name)
    if arg is not None:
        if pv == "var":
            ctx.vars[arg] = value
        elif pv == "avp":
            ctx.avps[arg] = value
        elif pv == "dlg_var":
            _dialog_vars(ctx)[arg] = value
        elif pv == "sht":
            table, key = _sht_ref(arg)
            _table(ctx, table).set(key(ctx), value)
        else:
            raise KsrNameError(f"pseudo-variable ${pv}(...) cannot be set in kamtool")
        return 1
    msg = ctx.msg
    if pv == "du":
        ctx.dst_uri = str(value) if value else None
    elif pv == "ru":
        msg.uri = str(value)
    elif pv in ("rU", "rd", "rp"):
        uri = _ruri(ctx)
        if not isinstance(uri, SipURI):
            return -1
        field = {"rU": "user", "rd": "host", "rp": "port"}[pv]
        msg.uri = uri.replace(**{field: int(value) if pv == "rp" else str(value)})
    else:
        raise KsrNameError(f"pseudo-variable ${pv} cannot be set in kamtool")
    return 1


def sets(name: str, value: str) -> int:
    return _set(name, str(value))


def seti(name: str, value: int) -> int:
    return _set(name, int(value))


def unset(name: str) -> int:
    ctx = state.ctx
    pv, arg = _split(name)
    if pv == "var" and arg is not None:
        ctx.vars.pop(arg, None)
    elif pv == "avp" and arg is not None:
        ctx.avps.pop(arg, None)
    elif pv == "dlg_var" and arg is not None:
        _dialog_vars(ctx).pop(arg, None)
    elif pv == "sht" and arg is not None:
        table, key = _sht_ref(arg)
        _table(ctx, table).delete(key(ctx))
    elif pv == "du" and arg is None:
        ctx.dst_uri = None
    else:
        raise KsrNameError(f"pseudo-variable ${pv} cannot be unset in kamtool")
    return 1


def functions() -> dict[str, Any]:
    """``KSR.pv``."""
    return dict(get=get, gete=gete, getvn=getvn, getvs=getvs, getw=getw, is_null=is_null,
                sets=sets, seti=seti, unset=unset)  # fmt: skip


def _kx(pv: str) -> Callable[[], Any]:
    def getter() -> Any:
        value = GETTERS[pv](state.ctx)
        if pv in INT_NAMES:
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
