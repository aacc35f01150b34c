"""More of ``KSR.siputils``: the string checks (``is_numeric``, ``is_alphanum(ex)``,
``is_tel_number``, ``is_uri``), URI and header-name comparisons (``cmp_uri``, ``cmp_aor``,
``cmp_hdr_name``), the R-URI parameter functions (``uri_param``, ``uri_param_any``,
``add_uri_param``, ``uri_param_rm``) and ``is_user``, with siputils 5.6's return codes:
1 true, -1 false, -2 an empty value (or an error), -3 a character not allowed.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import field, state
from kamtool.sip.errors import ParseError
from kamtool.sip.header_fields import canonical_name
from kamtool.sip.uri import SipURI, parse_uri

__all__ = ["more_siputils_functions"]

_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def is_numeric(value: str) -> int:
    text = str(value)
    if not text:
        return -2
    return 1 if all("0" <= c <= "9" for c in text) else -2


def is_alphanumex(value: str, extra: str = "") -> int:
    text = str(value)
    if not text:
        return -2
    allowed = _ALNUM | frozenset(str(extra))
    return 1 if all(c in allowed for c in text) else -3


def is_tel_number(value: str) -> int:
    """Digits, optionally after ``+`` and a first digit 1-9."""
    text = str(value)
    if text.startswith("+"):
        if len(text) < 2 or not "1" <= text[1] <= "9":
            return -2
        text = text[2:]
    elif not text:
        return -2
    return 1 if all("0" <= c <= "9" for c in text) else -2


def _parsed(text: str) -> Any:
    try:
        return parse_uri(str(text))
    except (ParseError, ValueError):
        return None


def is_uri(value: str) -> int:
    return 1 if _parsed(value) is not None else -1


def _port(uri: Any) -> int | None:
    return getattr(uri, "port", None)


def cmp_aor(a: str, b: str) -> int:
    """1 when user, host (any case) and port (absent is 5060) are the same; -1 when
    not; -2 when one does not parse."""
    ua, ub = _parsed(a), _parsed(b)
    if ua is None or ub is None:
        return -2
    if getattr(ua, "user", None) != getattr(ub, "user", None):
        return -1
    if (_port(ua) or 5060) != (_port(ub) or 5060):
        return -1
    return 1 if str(getattr(ua, "host", "")).lower() == str(getattr(ub, "host", "")).lower() else -1


def cmp_uri(a: str, b: str) -> int:
    """As siputils' cmp_uri(): 1 equal, -1 not (a port given and one left out differ; a
    parameter counts only when both URIs have it, even ``transport``), -2 when one does
    not parse."""
    ua, ub = _parsed(a), _parsed(b)
    if ua is None or ub is None:
        return -2
    if not (isinstance(ua, SipURI) and isinstance(ub, SipURI)):
        return 1 if str(ua) == str(ub) else -1
    if (ua.scheme, ua.user, getattr(ua, "password", None), _port(ua)) != (
        ub.scheme,
        ub.user,
        getattr(ub, "password", None),
        _port(ub),
    ) or str(ua.host).lower() != str(ub.host).lower():
        return -1
    pa = {k.lower(): v for k, v in (ua.params or {}).items()}
    pb = {k.lower(): v for k, v in (ub.params or {}).items()}
    for name in set(pa) & set(pb):
        if str(pa[name] or "").lower() != str(pb[name] or "").lower():
            return -1
    return 1


def cmp_hdr_name(a: str, b: str) -> int:
    """1 when both name the same header (compact forms too, any case), else -1."""
    return 1 if canonical_name(str(a).strip()) == canonical_name(str(b).strip()) else -1


def _ruri_params() -> dict[str, Any]:
    return dict(getattr(field(state.ctx.msg, "uri"), "params", {}) or {})


def uri_param(name: str) -> int:
    """1 when the R-URI has parameter ``name`` without a value (``;lr``); with a value
    (``;transport=udp``) it is -1, as siputils' uri_param() with one argument."""
    params = _ruri_params()
    return 1 if str(name) in params and not params[str(name)] else -1


def uri_param_any(name: str) -> int:
    """1 when the R-URI has parameter ``name`` (any case), with a value or not."""
    wanted = str(name).lower()
    return 1 if any(k.lower() == wanted for k in _ruri_params()) else -1


def _ruri_text() -> str:
    return str(pv.get("$ru") or "")


def add_uri_param(param: str) -> int:
    """``;param`` added to the R-URI's parameters (before its ``?headers``)."""
    text = str(param)
    if not text:
        return 1
    uri = _ruri_text()
    base, sep, headers = uri.partition("?")
    return 1 if pv.sets("$ru", f"{base};{text}{sep}{headers}") else -1


def uri_param_rm(name: str) -> int:
    """The R-URI without parameter ``name`` (any case); 1 also when it had none."""
    uri = _ruri_text()
    base, sep, headers = uri.partition("?")
    head, *params = base.split(";")
    kept = [p for p in params if p.split("=", 1)[0].strip().lower() != str(name).lower()]
    if len(kept) == len(params):
        return 1
    return 1 if pv.sets("$ru", ";".join([head, *kept]) + sep + headers) else -1


def is_user(user: str) -> int:
    """1 when the first Authorization (else Proxy-Authorization) names ``user``."""
    msg = state.ctx.msg
    for name in ("authorization", "proxy-authorization"):
        value = msg.headers.get(name)
        if value is None:
            continue
        for part in value.split(" ", 1)[-1].split(","):
            key, _, val = part.strip().partition("=")
            if key.strip().lower() == "username":
                return 1 if val.strip().strip('"') == str(user) else -1
        return -1
    return -1


# siputils' options_accept, _accept_encoding, _accept_language and options_support defaults
OPTIONS_HEADERS = [("Accept", "*/*"), ("Accept-Encoding", ""), ("Accept-Language", "en"),
                   ("Supported", "")]  # fmt: skip


def options_reply() -> int:
    """``200 OK`` with what the proxy accepts, to an OPTIONS for the proxy itself (no user
    in the R-URI): 1; -1 for another method, or an R-URI with a user, as Kamailio."""
    from kamtool.proxy.ksr.msgops import reply

    ctx = state.ctx
    msg = ctx.msg
    if not msg.is_request or msg.method != "OPTIONS":
        return -1
    uri = field(msg, "uri")
    if uri is None or getattr(uri, "user", None):
        return -1
    return reply(ctx, 200, "OK", list(OPTIONS_HEADERS), stateful=True)


def more_siputils_functions() -> dict[str, Any]:
    return dict(is_numeric=is_numeric, is_alphanum=lambda v: is_alphanumex(v),
                is_alphanumex=is_alphanumex, is_tel_number=is_tel_number, is_uri=is_uri,
                cmp_uri=cmp_uri, cmp_aor=cmp_aor, cmp_hdr_name=cmp_hdr_name,
                uri_param=uri_param, uri_param_any=uri_param_any, add_uri_param=add_uri_param,
                uri_param_rm=uri_param_rm, is_user=is_user,
                options_reply=options_reply)  # fmt: skip
