"""The SIP classes of Kamailio's transformations: ``uri.``, ``param.``, ``nameaddr.`` and
``tobody.`` (see :mod:`kamtool.proxy.ksr.transforms`).

They work on the text of the value, as Kamailio does, so a part comes back exactly as
written (``uri.params`` is the raw parameter list); a part that is absent is "" and
``uri.port`` is a number (0 without a port).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from kamtool.proxy.ksr.transform_base import Failed, Resolve
from kamtool.proxy.ksr.transform_base import nonempty as _nonempty
from kamtool.proxy.ksr.transform_base import param as _param

__all__ = ["SIP_TRANSFORMS", "split_uri"]

_SCHEMES = ("sip", "sips", "tel", "tels", "urn")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)\Z", re.S)


class UriParts(NamedTuple):
    """The raw parts of a URI (``""`` for an absent one)."""

    scheme: str
    user: str
    passwd: str
    host: str
    port: str
    params: str
    headers: str


def split_uri(text: str) -> UriParts:
    """``sip:user:pw@host:port;params?headers`` in parts; Failed when it is no URI."""
    m = _SCHEME.match(text.strip())
    if m is None or m.group(1).lower() not in _SCHEMES:
        raise Failed("not a URI")
    scheme, rest = m.group(1), m.group(2)
    rest, _, headers = rest.partition("?")
    if scheme.lower() in ("tel", "tels", "urn"):  # no host: the number is the user
        user, _, params = rest.partition(";")
        return UriParts(scheme, user, "", "", "", params, headers)
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart = rest
    hostport, _, params = hostpart.partition(";")
    user, _, passwd = userinfo.partition(":")
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port = hostport[: close + 1], hostport[close + 2 :] if close > 0 else ""
        if close < 0:
            raise Failed("bad IPv6 reference")
    else:
        host, _, port = hostport.partition(":")
    if not host or (port and not port.isdigit()):
        raise Failed("bad host or port")
    return UriParts(scheme, user, passwd, host, port, params, headers)


def _params(text: str, sep: str = ";") -> list[tuple[str, str]]:
    """(name, value) of each parameter of ``a=1;b;c=x``, in order."""
    out = []
    for item in text.split(sep):
        name, _, value = item.partition("=")
        if name.strip():
            out.append((name.strip(), value.strip().strip('"')))
    return out


def _find(params: list[tuple[str, str]], name: str) -> str | None:
    low = name.lower()
    return next((v for n, v in params if n.lower() == low), None)


def _uri(part: Callable[[UriParts], Any]) -> Callable[[Any, tuple[str, ...], Resolve], Any]:
    def fn(value: Any, _params_: tuple[str, ...], _resolve: Resolve) -> Any:
        text = _nonempty(value)
        if len(text) > 4 and text.endswith(";"):  # Kamailio drops one trailing ';'
            text = text[:-1]
        return part(split_uri(text))

    return fn


def _uri_param(value: Any, params: tuple[str, ...], resolve: Resolve) -> str:
    name = str(_param(params, 0, resolve) or "")
    if not name:
        raise Failed("no parameter name")
    text = _nonempty(value).removesuffix(";")
    found = _find(_params(split_uri(text).params), name)
    return found or ""


def _sep(params: tuple[str, ...], i: int) -> str:
    sep = params[i] if len(params) > i else ";"
    if len(sep) != 1:
        raise Failed("the separator is one character")
    return sep


def _param_list(value: Any, sep: str) -> list[tuple[str, str]]:
    text = _nonempty(value)
    if len(text) > 1 and text.endswith(sep):
        text = text[:-1]
    return _params(text, sep)


def _param_value(value: Any, params: tuple[str, ...], resolve: Resolve) -> str:
    name = str(_param(params, 0, resolve) or "")
    if not name:
        raise Failed("no parameter name")
    return _find(_param_list(value, _sep(params, 1)), name) or ""


def _param_in(value: Any, params: tuple[str, ...], resolve: Resolve) -> int:
    name = str(_param(params, 0, resolve) or "")
    if not name:
        raise Failed("no parameter name")
    return 0 if _find(_param_list(value, _sep(params, 1)), name) is None else 1


def _param_count(value: Any, params: tuple[str, ...], _resolve: Resolve) -> int:
    return len(_param_list(value, _sep(params, 0)))


def _outside_quotes(text: str, char: str) -> int:
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            return i
    return -1


def split_nameaddr(text: str) -> tuple[str, str, int]:
    """(display name as written, URI, length up to ``>``) of ``"Name" <uri>;params``."""
    lt = _outside_quotes(text, "<")
    if lt < 0:  # no <>: all of it is the URI
        return "", text, len(text)
    gt = text.find(">", lt)
    if gt < 0:
        raise Failed("no '>'")
    return text[:lt], text[lt + 1 : gt], gt + 1


def _na(i: int) -> Callable[[Any, tuple[str, ...], Resolve], Any]:
    return lambda v, _p, _r: split_nameaddr(_nonempty(v))[i]


def _tobody(part: str) -> Callable[[Any, tuple[str, ...], Resolve], Any]:
    def fn(value: Any, _params_: tuple[str, ...], _resolve: Resolve) -> Any:
        text = _nonempty(value).strip()
        display, uri, end = split_nameaddr(text)
        rest = text[end:]
        if end == len(text) and "<" not in text:  # addr-spec: its ;params are the header's
            uri, _, rest = text.partition(";")
            rest = ";" + rest if rest else ""
        parts = split_uri(uri)
        params = rest.strip().removeprefix(";").strip()
        values = {
            "uri": uri, "user": parts.user, "host": parts.host, "params": params,
            "tag": _find(_params(params), "tag") or "", "display": display.strip(),
        }  # fmt: skip
        return values[part]

    return fn


SIP_TRANSFORMS: dict[str, Callable[[Any, tuple[str, ...], Resolve], Any]] = {
    "uri.user": _uri(lambda u: u.user),
    "uri.host": _uri(lambda u: u.host),
    "uri.domain": _uri(lambda u: u.host),
    "uri.passwd": _uri(lambda u: u.passwd),
    "uri.port": _uri(lambda u: int(u.port) if u.port else 0),
    "uri.params": _uri(lambda u: u.params),
    "uri.headers": _uri(lambda u: u.headers),
    "uri.scheme": _uri(lambda u: u.scheme),
    "uri.transport": _uri(lambda u: _find(_params(u.params), "transport") or ""),
    "uri.ttl": _uri(lambda u: _find(_params(u.params), "ttl") or ""),
    "uri.uparam": _uri(lambda u: _find(_params(u.params), "user") or ""),
    "uri.maddr": _uri(lambda u: _find(_params(u.params), "maddr") or ""),
    "uri.method": _uri(lambda u: _find(_params(u.params), "method") or ""),
    "uri.lr": _uri(lambda u: _find(_params(u.params), "lr") or ""),
    "uri.r2": _uri(lambda u: _find(_params(u.params), "r2") or ""),
    "uri.param": _uri_param,
    "param.value": _param_value,
    "param.in": _param_in,
    "param.count": _param_count,
    "nameaddr.name": _na(0),
    "nameaddr.uri": _na(1),
    "nameaddr.len": _na(2),
    "tobody.uri": _tobody("uri"),
    "tobody.user": _tobody("user"),
    "tobody.host": _tobody("host"),
    "tobody.params": _tobody("params"),
    "tobody.tag": _tobody("tag"),
    "tobody.display": _tobody("display"),
}
