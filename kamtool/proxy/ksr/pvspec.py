"""Pseudo-variable names as Kamailio writes them, parsed into a :class:`Spec`.

Three forms: ``$name``, ``$name(inner)`` and the long form
``$(name(inner)[index]{transformation}...)``. The index is a number (negative counts
from the last value), ``*`` (every value) or a variable (``$var(i)``); transformations
are parsed by :mod:`kamtool.proxy.ksr.transforms`. The whole text must be one variable,
as in Kamailio's KEMI (``"$ru x"`` is not a variable name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kamtool.proxy.ksr.transforms import Transform, parse_transform

__all__ = ["ALL", "BadName", "Spec", "parse", "pieces", "scan_pv"]

ALL = "*"  # the index [*]: every value
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class BadName(ValueError):
    """Text that is not a pseudo-variable name (Kamailio: "invalid pv")."""


@dataclass(frozen=True)
class Spec:
    """One parsed name: ``pv`` (``"hdr"``), ``arg`` (the text in parentheses, None
    without), ``index`` (None, an int, :data:`ALL` or a variable name) and the
    transformations to apply to the value, in order."""

    pv: str
    arg: str | None = None
    index: Any = None
    transforms: tuple[Transform, ...] = ()


def _closing(text: str, start: int, open_: str, close: str) -> int:
    """The position of the ``close`` matching ``text[start]`` (an ``open_``)."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
    raise BadName(f"no {close!r} closes {text!r}")


def _name_and_arg(text: str, pos: int) -> tuple[str, str | None, int]:
    m = _NAME.match(text, pos)
    if m is None:
        raise BadName(f"no variable name in {text!r}")
    pos = m.end()
    arg = None
    if pos < len(text) and text[pos] == "(":
        end = _closing(text, pos, "(", ")")
        arg = text[pos + 1 : end]
        pos = end + 1
    return m.group(0), arg, pos


def _index(text: str) -> Any:
    text = text.strip()
    if text == ALL:
        return ALL
    if text.startswith("$"):
        scan_pv(text, 0, whole=True)
        return text
    try:
        return int(text)
    except ValueError:
        raise BadName(f"bad index [{text}]") from None


def scan_pv(text: str, pos: int = 0, whole: bool = False) -> tuple[Spec, int]:
    """The variable starting at ``text[pos]`` (a ``$``) and the position after it;
    ``whole``: it must end the text."""
    if not text.startswith("$", pos):
        raise BadName(f"{text!r} does not start with $")
    pos += 1
    if text.startswith("(", pos):
        end = _closing(text, pos, "(", ")")
        body = text[pos + 1 : end]
        pv, arg, at = _name_and_arg(body, 0)
        index = None
        if body.startswith("[", at):
            close = body.find("]", at)
            if close < 0:
                raise BadName(f"no ']' in {text!r}")
            index = _index(body[at + 1 : close])
            at = close + 1
        transforms = []
        while at < len(body):
            if body[at] != "{":
                raise BadName(f"unexpected {body[at:]!r} in {text!r}")
            close = _closing(body, at, "{", "}")
            transforms.append(parse_transform(body[at + 1 : close]))
            at = close + 1
        spec = Spec(pv, arg, index, tuple(transforms))
        pos = end + 1
    else:
        pv, arg, pos = _name_and_arg(text, pos)
        spec = Spec(pv, arg)
    if whole and pos != len(text):
        raise BadName(f"{text!r} is more than one variable")
    return spec, pos


def parse(name: str) -> Spec:
    """The :class:`Spec` of ``name`` (surrounding blanks ignored); BadName if it is none."""
    return scan_pv(str(name).strip(), 0, whole=True)[0]


def pieces(text: str, strict: bool = True) -> list[str | tuple[str]]:
    """A text with variables in it (an xlog format, an htable key ``ipban=>$si``) as
    literal strings and ``(name,)`` for each variable; ``$$`` is one ``$``. A ``$`` that
    starts no variable is BadName (``strict``, as xlog's formats), else literal text."""
    out: list[str | tuple[str]] = []
    literal: list[str] = []
    pos = 0
    while pos < len(text):
        at = text.find("$", pos)
        if at < 0:
            literal.append(text[pos:])
            break
        literal.append(text[pos:at])
        if text.startswith("$$", at):
            literal.append("$")
            pos = at + 2
            continue
        try:
            _, end = scan_pv(text, at)
        except BadName:
            if strict:
                raise
            literal.append("$")
            pos = at + 1
            continue
        if literal:
            out.append("".join(literal))
            literal = []
        out.append((text[at:end],))
        pos = end
    if literal and literal != [""]:
        out.append("".join(literal))
    return out
