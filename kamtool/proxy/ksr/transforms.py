"""Kamailio's transformations (``$(ru{uri.user})``, ``$(hdr(X){s.substr,0,3})``): the
common ones of the ``s.``, ``uri.``, ``param.``, ``nameaddr.`` and ``tobody.`` classes.

A value is None (Kamailio's null), an int or a str. A transformation of a null value, or
one that cannot apply (``s.int`` of ``"abc"``, ``uri.user`` of something that is no
URI), makes the whole variable null, as in Kamailio. Parameters may be variables
(``{s.substr,0,$var(n)}``): their values come from the ``resolve`` function
:func:`apply` is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

from kamtool.proxy.ksr.transform_base import Failed, Resolve, Transform
from kamtool.proxy.ksr.transform_base import int_param as _int_param
from kamtool.proxy.ksr.transform_base import text as _text
from kamtool.proxy.ksr.transform_base import to_int as _to_int
from kamtool.proxy.ksr.transforms_sip import SIP_TRANSFORMS

__all__ = ["Failed", "Transform", "apply", "parse_transform"]

def _substr(value: Any, params: tuple[str, ...], resolve: Resolve) -> str:
    s = _text(value)
    start, length = _int_param(params, 0, resolve), _int_param(params, 1, resolve)
    if length < 0:
        raise Failed("negative length")
    if start < 0:  # from the end: -start characters are left
        if -start > len(s):
            raise Failed("out of range")
        tail = s[len(s) + start :]
        return tail if length == 0 or -start < length else tail[:length]
    if start >= len(s):
        raise Failed("out of range")
    return s[start:] if length == 0 or start + length >= len(s) else s[start : start + length]


_ESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}


def _select(value: Any, params: tuple[str, ...], resolve: Resolve) -> str:
    s = _text(value)
    n = _int_param(params, 0, resolve)
    sep = params[1] if len(params) > 1 else ""
    if len(sep) > 1:
        if sep[:2] not in _ESCAPES:
            raise Failed("bad separator")
        sep = _ESCAPES[sep[:2]]
    if not sep:
        raise Failed("missing separator")
    fields = s.split(sep)
    if n < 0:
        n += len(fields)
    return fields[n] if 0 <= n < len(fields) else ""


def _strip(tail: bool) -> Callable[[Any, tuple[str, ...], Resolve], str]:
    def strip(value: Any, params: tuple[str, ...], resolve: Resolve) -> str:
        s = _text(value)
        n = _int_param(params, 0, resolve)
        if n <= 0:
            return s
        return s[: len(s) - n] if tail else s[n:]

    return strip


def _b64decode(value: Any) -> str:
    s = _text(value)
    try:
        out = base64.b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        raise Failed("not base64") from None
    if not out and s:
        raise Failed("not base64")
    return out.decode("utf-8", "surrogateescape")


def _hexdecode(value: Any) -> str:
    try:
        return bytes.fromhex(_text(value)).decode("utf-8", "surrogateescape")
    except ValueError:
        raise Failed("not hexadecimal") from None


def _digest(algo: str) -> Callable[[Any], str]:
    return lambda v: hashlib.new(algo, _text(v).encode("utf-8", "surrogateescape")).hexdigest()


def _case(upper: bool) -> Callable[[Any], Any]:
    def change(value: Any) -> Any:
        if isinstance(value, int):  # Kamailio leaves a number as it is
            return value
        s = _text(value)  # ASCII letters only, as Kamailio
        table = _UPPER if upper else _LOWER
        return s.translate(table)

    return change


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# transformations without parameters: name -> value -> value
_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "s.len": lambda v: len(_text(v)),
    "s.int": _to_int,
    "s.md5": _digest("md5"),
    "s.sha256": _digest("sha256"),
    "s.sha384": _digest("sha384"),
    "s.sha512": _digest("sha512"),
    "s.tolower": _case(False),
    "s.toupper": _case(True),
    "s.trim": lambda v: _text(v).strip(" \t\r\n"),
    "s.rtrim": lambda v: _text(v).rstrip(" \t\r\n"),
    "s.ltrim": lambda v: _text(v).lstrip(" \t\r\n"),
    "s.rmws": lambda v: re.sub(r"[ \t\r\n]", "", _text(v)),
    "s.encode.base64": lambda v: base64.b64encode(
        _text(v).encode("utf-8", "surrogateescape")
    ).decode(),
    "s.decode.base64": _b64decode,
    "s.encode.hexa": lambda v: _text(v).encode("utf-8", "surrogateescape").hex(),
    "s.decode.hexa": _hexdecode,
    "s.unquote": lambda v: _unwrap(_text(v), "\"'"),
    "s.unbracket": lambda v: _unwrap(_text(v), "<"),
}


def _unwrap(s: str, openers: str) -> str:
    pairs = {'"': '"', "'": "'", "<": ">"}
    if len(s) >= 2 and s[0] in openers and s[-1] == pairs[s[0]]:
        return s[1:-1]
    return s


_WITH_PARAMS: dict[str, Callable[[Any, tuple[str, ...], Resolve], Any]] = {
    "s.substr": _substr,
    "s.select": _select,
    "s.strip": _strip(False),
    "s.striptail": _strip(True),
}


def parse_transform(text: str) -> Transform:
    """``"s.substr,0,2"`` (the text between the braces) as a :class:`Transform`;
    ValueError for one kamtool does not know (Kamailio refuses the name too)."""
    name, *params = [p.strip() if i == 0 else p for i, p in enumerate(text.split(","))]
    key = name.lower()
    simple = _SIMPLE.get(key)
    if simple is not None:
        return Transform(key, lambda v, _p, _r: simple(v))
    fn = _WITH_PARAMS.get(key) or SIP_TRANSFORMS.get(key)
    if fn is None:
        raise ValueError(f"unknown transformation {{{name}}}")
    if key == "s.select" and len(params) > 2:  # the separator may be a comma: {s.select,1,,}
        params = [params[0], ",".join(params[1:])]
    return Transform(key, fn, tuple(params))


def apply(transforms: tuple[Transform, ...], value: Any, resolve: Resolve) -> Any:
    """``value`` through each transformation in turn; None when one does not apply."""
    for tr in transforms:
        if value is None:
            return None
        try:
            value = tr.fn(value, tr.params, resolve)
        except Failed:
            return None
    return value
