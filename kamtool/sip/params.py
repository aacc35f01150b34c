"""Comma-separated header lists and ``;name=value`` parameters, as SIP header values
write them: splitting outside quotes and angle brackets, parsing, quoting."""

from __future__ import annotations

import re

from . import _abnf
from .errors import ParseError

__all__ = ["parse_params", "quote", "split_list", "unquote"]

_LIST_ITEM_RE = re.compile(r'(?:"(?:[^"\\]|\\.)*"|<[^>]*>|[^,"<])+')
_UNSAFE_CHARS = re.compile(r'["<]')


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quoted strings and ``<...>``.

    Empty elements (``a,,b``) are dropped as RFC 3261 section 7.3.1 allows. Raises
    :class:`ParseError` on an unterminated quote or angle bracket.
    """
    if not _UNSAFE_CHARS.search(value):
        return [p for p in (s.strip() for s in value.split(",")) if p]
    items = []
    pos = 0
    n = len(value)
    while pos < n:
        m = _LIST_ITEM_RE.match(value, pos)
        if m is None:
            if value[pos] == ",":
                pos += 1
                continue
            raise ParseError("Unbalanced quote or angle bracket")
        item = m.group().strip()
        if item:
            items.append(item)
        pos = m.end()
        if pos < n:
            if value[pos] != ",":
                raise ParseError("Unbalanced quote or angle bracket")
            pos += 1
    return items


_PARAM_RE = re.compile(
    rf"{_abnf.SWS};{_abnf.SWS}({_abnf.token})(?:{_abnf.SWS}={_abnf.SWS}({_abnf.gen_value}))?{_abnf.SWS}"
)


_PARAMS_FULL_RE = re.compile(f"(?:{_PARAM_RE.pattern})*")


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` header parameters to {lower name: value or None}.

    Quoted values keep their quotes (so they can be written back unchanged); use
    :func:`unquote` to read them.
    """
    if _PARAMS_FULL_RE.fullmatch(text) is not None:
        # one C-level validation, one C-level capture; gen-value is never empty, so ""
        # means "no value"
        return {n.lower(): (v if v else None) for n, v in _PARAM_RE.findall(text)}
    params: dict[str, str | None] = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            raise ParseError(f"Bad parameter in {what}")
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def unquote(value: str) -> str:
    """Remove the quotes of a quoted-string and resolve its quoted-pairs."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" in inner:
            inner = re.sub(r"\\(.)", r"\1", inner, flags=re.S)
        return inner
    return value


_NEEDS_QUOTED_PAIR = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote(value: str) -> str:
    """Make a quoted-string: ``"``, ``\\`` and control characters become quoted-pairs.

    CR and LF cannot be carried (the header would break): adding such a value to a
    message raises :class:`~kamtool.sip.LocalProtocolError`.
    """
    return '"' + _NEEDS_QUOTED_PAIR.sub(lambda m: "\\" + m.group(), value) + '"'


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
