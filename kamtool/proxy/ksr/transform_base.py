"""What every class of :mod:`transformations <kamtool.proxy.ksr.transforms>` is built
on: :class:`Transform`, :class:`Failed` (the value becomes null) and the readers of a
value and of a transformation's parameters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Failed", "Resolve", "Transform", "int_param", "nonempty", "param", "text", "to_int"]

Resolve = Callable[[str], Any]


class Failed(Exception):
    """The transformation does not apply to the value: the variable is null."""


@dataclass(frozen=True)
class Transform:
    """``{name,param,...}``: ``fn(value, params, resolve)`` gives the new value."""

    name: str
    fn: Callable[[Any, tuple[str, ...], Resolve], Any]
    params: tuple[str, ...] = ()


def text(value: Any) -> str:
    """The value as a string (a number too); null is no text."""
    if value is None:
        raise Failed("null value")
    return str(value)


def nonempty(value: Any) -> str:
    """The value as a string; the uri/param/nameaddr/tobody classes need a non-empty one."""
    if not isinstance(value, str) or not value:
        raise Failed("not a string")
    return value


def param(params: tuple[str, ...], i: int, resolve: Resolve, default: Any = None) -> Any:
    """Parameter ``i``: a variable's value (``$var(n)``) or the text as written."""
    if i >= len(params):
        if default is None:
            raise Failed("missing parameter")
        return default
    p = params[i]
    return resolve(p) if p.startswith("$") else p


def int_param(params: tuple[str, ...], i: int, resolve: Resolve) -> int:
    value = param(params, i, resolve)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Failed(f"parameter {value!r} is not a number") from None


def to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(text(value).strip())
    except ValueError:
        raise Failed("not a number") from None
