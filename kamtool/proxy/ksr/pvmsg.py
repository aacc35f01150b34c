"""The pseudo-variables that read the message and the route's state (``$ru``, ``$fU``,
``$cl`` ...), and the From/To ones a route can set (``$fU``, ``$tn`` ...).

Types follow Kamailio's KEMI: ints for the names in :data:`INT_NAMES`, strings for the
others (``$rp`` and ``$cs`` too: Kamailio hands them over as text), None when there is
no value. Setting From/To parts rewrites that header at once, keeping its tag and other
parameters (as the message edits of kamtool do; Kamailio's lumps show on the wire).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, field
from kamtool.proxy.ksr.core import method_of
from kamtool.sip.headers import parse_name_addr
from kamtool.sip.params import quote
from kamtool.sip.uri import SipURI, TelURI

__all__ = ["GETTERS", "INT_NAMES", "READ_ONLY", "SETTERS"]

_STARTED = int(time.time())  # $TS: when this process started serving
_MSG_IDS = itertools.count(1)  # $mi


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _ruri(ctx: MsgContext) -> Any:
    return field(ctx.msg, "uri") if ctx.msg.is_request else None


def uri_user(uri: Any) -> str | None:
    """$rU of a parsed R-URI: a SIP URI's user, a tel: URI's number."""
    if isinstance(uri, TelURI):
        return uri.number or None
    return getattr(uri, "user", None)


def _port(uri: Any) -> str | None:
    """A URI's port as Kamailio's ``$rp``/``$dp`` give it: text, 5060 when absent."""
    if uri is None:
        return None
    return str(getattr(uri, "port", None) or 5060)


def _uri_of(ctx: MsgContext, which: str) -> Any:
    na = field(ctx.msg, which)
    return na.uri if na is not None else None


def _header_uri(ctx: MsgContext, name: str) -> Any:
    """The URI of a name-addr header (Diversion, P-Asserted-Identity ...), None if it
    is absent or does not parse."""
    value = ctx.msg.headers.get(name)
    if not value:
        return None
    try:
        return parse_name_addr(value).uri
    except Exception:  # a broken header is no value, as Kamailio's null
        return None


def _credentials(ctx: MsgContext) -> Any:
    msg = ctx.msg
    if not msg.is_request:
        return None
    creds = field(msg, "authorizations") or field(msg, "proxy_authorizations")
    return creds[0] if creds else None


def _credential(ctx: MsgContext, name: str) -> str | None:
    creds = _credentials(ctx)
    return creds.get(name) if creds is not None else None


def _cseq(ctx: MsgContext) -> str | None:
    c = field(ctx.msg, "cseq")
    return str(c.num) if c is not None else None


def _local(ctx: MsgContext) -> Any:
    return getattr(ctx.endpoint, "listen", None)


def _dst(ctx: MsgContext) -> Any:
    if not ctx.dst_uri:
        return None
    try:
        from kamtool.sip.uri import parse_uri

        return parse_uri(ctx.dst_uri)
    except Exception:
        return None


def _orig(ctx: MsgContext) -> Any:
    if not ctx.ouri:
        return None
    try:
        from kamtool.sip.uri import parse_uri

        return parse_uri(ctx.ouri)
    except Exception:
        return None


def _display(ctx: MsgContext, which: str) -> str | None:
    """$fn/$tn: the display name as written (quotes kept, as Kamailio gives it)."""
    from kamtool.proxy.ksr.transforms_sip import split_nameaddr

    value = ctx.msg.headers.get(which)
    if not value or field(ctx.msg, "from_" if which == "from" else "to") is None:
        return None
    return split_nameaddr(value)[0].strip() or None


def _content_length(ctx: MsgContext) -> int | None:
    value = ctx.msg.headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _msg_id(ctx: MsgContext) -> int:
    """$mi: a number per message in this process (kept for the message's routes)."""
    mi = ctx.avps.get("\0mi")
    if mi is None:
        mi = ctx.avps["\0mi"] = next(_MSG_IDS)
    return mi


# the pseudo-variables without a name inside parentheses: $name -> getter(ctx)
GETTERS: dict[str, Callable[[MsgContext], Any]] = {
    "ru": lambda c: c.msg.uri_text if c.msg.is_request else None,
    "rU": lambda c: uri_user(_ruri(c)),
    "rd": lambda c: getattr(_ruri(c), "host", None),
    "rp": lambda c: _port(_ruri(c)),
    "rz": lambda c: getattr(_ruri(c), "scheme", None),
    "rv": lambda c: c.msg.version,
    "ou": lambda c: c.ouri,
    "oU": lambda c: uri_user(_orig(c)),
    "od": lambda c: getattr(_orig(c), "host", None),
    "op": lambda c: _port(_orig(c)),
    "du": lambda c: c.dst_uri,
    "dd": lambda c: getattr(_dst(c), "host", None),
    "dp": lambda c: _port(_dst(c)),
    "fu": lambda c: _text(_uri_of(c, "from_")),
    "fU": lambda c: getattr(_uri_of(c, "from_"), "user", None),
    "fd": lambda c: getattr(_uri_of(c, "from_"), "host", None),
    "fn": lambda c: _display(c, "from"),
    "ft": lambda c: field(c.msg, "from_tag"),
    "tu": lambda c: _text(_uri_of(c, "to")),
    "tU": lambda c: getattr(_uri_of(c, "to"), "user", None),
    "td": lambda c: getattr(_uri_of(c, "to"), "host", None),
    "tn": lambda c: _display(c, "to"),
    "tt": lambda c: field(c.msg, "to_tag"),
    "ci": lambda c: field(c.msg, "call_id"),
    "cs": _cseq,
    "cl": _content_length,
    "cT": lambda c: c.msg.headers.get("content-type"),
    "bs": lambda c: len(c.msg.body or b""),
    "ml": lambda c: len(c.msg.to_bytes()),
    "mi": _msg_id,
    "rm": lambda c: method_of(c.msg),
    "rs": lambda c: None if c.msg.is_request else c.msg.status,
    "rr": lambda c: None if c.msg.is_request else c.msg.reason,
    "si": lambda c: c.addr[0],
    "sp": lambda c: c.addr[1],
    "Ri": lambda c: getattr(_local(c), "host", None),
    "Rp": lambda c: getattr(_local(c), "port", None),
    "pr": lambda c: getattr(c.endpoint, "proto", "udp"),
    "proto": lambda c: getattr(c.endpoint, "proto", "udp"),
    "ua": lambda c: c.msg.headers.get("user-agent"),
    "au": lambda c: _credential(c, "username"),
    "ar": lambda c: _credential(c, "realm"),
    "adu": lambda c: _credential(c, "uri"),
    "aa": lambda c: _credential(c, "algorithm"),
    "ct": lambda c: c.msg.headers.get("contact"),
    "rb": lambda c: c.msg.body.decode("utf-8", "replace") if c.msg.body else None,
    "mb": lambda c: c.msg.to_bytes().decode("utf-8", "replace"),
    "di": lambda c: _text(_header_uri(c, "diversion")),
    "re": lambda c: _text(_header_uri(c, "remote-party-id")),
    "rt": lambda c: _text(_header_uri(c, "refer-to")),
    "ai": lambda c: _text(_header_uri(c, "p-asserted-identity")),
    "pu": lambda c: _text(_header_uri(c, "p-preferred-identity")),
    "pU": lambda c: getattr(_header_uri(c, "p-preferred-identity"), "user", None),
    "pd": lambda c: getattr(_header_uri(c, "p-preferred-identity"), "host", None),
    "mf": lambda c: c.flags,
    "bf": lambda c: c.bflags,
    "sf": lambda c: 0,  # kamtool has no script flags (setsflag)
    "Ts": lambda c: int(time.time()),
    "TS": lambda c: _STARTED,
    "pp": lambda c: os.getpid(),
    "T_branch_idx": lambda c: c.branch_idx,
    "T_reply_code": lambda c: c.reply_code or 0,  # 0 before any reply, as tmx
}
INT_NAMES = frozenset({"rs", "sp", "Rp", "T_branch_idx", "T_reply_code", "cl", "bs", "ml",
                       "mi", "mf", "bf", "sf", "Ts", "TS", "pp"})  # fmt: skip

# names Kamailio knows but kamtool has no value for (null, not an unknown name)
_NULL = ("fs", "ds", "sas", "conid", "ruid")
GETTERS.update({name: (lambda c: None) for name in _NULL})

# the ones Kamailio cannot set: KSR.pv.sets on them does nothing and says True
READ_ONLY = frozenset(GETTERS) - {"ru", "rU", "rd", "rp", "du", "fu", "fU", "fd", "fn", "tu",
                                   "tU", "td", "tn", "mf", "bf"}  # fmt: skip


# ------------------------------------------------------------------ setting From/To


def _rewrite(ctx: MsgContext, header: str, uri_part: str | None, value: Any,
             display: bool = False) -> bool:  # fmt: skip
    """Rewrite the From or To header: its URI's ``uri_part`` (user, host, or None for
    the whole URI) or its display name, keeping the tag and the other parameters."""
    msg = ctx.msg
    na = field(msg, "from_" if header == "From" else "to")
    if na is None or na.uri is None:
        return False
    uri = na.uri
    if display:
        name = "" if value is None else str(value)
    else:
        name = quote(na.display_name) if na.display_name is not None else ""
        if uri_part is None:
            uri = str(value)
        elif isinstance(uri, SipURI):
            uri = uri.replace(**{uri_part: str(value) if value is not None else None})
        else:
            return False
    params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in na.params.items())
    msg.headers.set(header, f"{name + ' ' if name else ''}<{uri}>{params}")
    return True


def _flags(attr: str) -> Callable[[MsgContext, Any], bool]:
    def set_flags(ctx: MsgContext, value: Any) -> bool:
        setattr(ctx, attr, int(value or 0))
        return True

    return set_flags


# $name -> setter(ctx, value) for From/To and the flag sets ($ru & co. are in pv.py)
SETTERS: dict[str, Callable[[MsgContext, Any], bool]] = {
    "fu": lambda c, v: _rewrite(c, "From", None, v),
    "fU": lambda c, v: _rewrite(c, "From", "user", v),
    "fd": lambda c, v: _rewrite(c, "From", "host", v),
    "fn": lambda c, v: _rewrite(c, "From", None, v, display=True),
    "tu": lambda c, v: _rewrite(c, "To", None, v),
    "tU": lambda c, v: _rewrite(c, "To", "user", v),
    "td": lambda c, v: _rewrite(c, "To", "host", v),
    "tn": lambda c, v: _rewrite(c, "To", None, v, display=True),
    "mf": _flags("flags"),
    "bf": _flags("bflags"),
}
