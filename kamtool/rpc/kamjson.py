"""JSON text exactly as Kamailio's jsonrpcs prints it (its cJSON fork, ``pretty_format=1``).

Rules, checked byte for byte against the reference captures (``response_raw``):

* one TAB per nesting level, a TAB after ``"key":``, members separated by ``,\\n``;
* objects inside arrays open on the same line: ``[{``, ``}, {``, ``}]``;
* array items separated by ``, `` and never broken over lines: ``["a", "b"]``, ``[]``;
* an empty object is ``{`` newline, the parent's indent, ``}``;
* numbers: integral values as integers, otherwise ``%f`` (``0.500000``), very small or
  very large non-integral values as ``%e``;
* strings escape only ``"``, ``\\``, and control characters; other text is raw UTF-8;
* no trailing newline.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring  # the C escaper: same escapes as cJSON
from typing import Any

__all__ = ["dumps", "format_number"]

# Python's escaper and cJSON's agree: \" \\ \b \f \n \r \t, other controls as \u00xx
# (lower-case hex), everything else (including non-ASCII) raw.
_string = encode_basestring


def format_number(n: float) -> str:
    """A number as cJSON prints it."""
    if isinstance(n, int):
        return str(n)
    if math.isnan(n) or math.isinf(n):
        return "null"  # not representable in JSON; cJSON does the same
    if n == math.floor(n) and abs(n) < 1e60:
        return str(int(n))
    if abs(n) < 1e-6 or abs(n) > 1e9:
        return f"{n:e}"
    return f"{n:f}"


class _Printer:
    """One dumps() call. Indents and ``"key":\t`` prefixes are cached: replies repeat the
    same keys thousands of times (a 20,000 contact ul.dump prints 500,000 members)."""

    __slots__ = ("_keys", "_tabs")

    def __init__(self) -> None:
        self._tabs: list[str] = [""]
        self._keys: dict[tuple[int, str], str] = {}

    def tabs(self, depth: int) -> str:
        tabs = self._tabs
        while len(tabs) <= depth:
            tabs.append("\t" * len(tabs))
        return tabs[depth]

    def value(self, v: Any, depth: int) -> str:
        t = type(v)
        if t is str:
            return _string(v)
        if t is dict:
            return self.obj(v, depth)
        if t is int:
            return int.__repr__(v)
        if t is list or t is tuple:
            if not v:
                return "[]"
            inner = depth + 1
            return "[" + ", ".join([self.value(item, inner) for item in v]) + "]"
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, str):
            return _string(str(v))
        if isinstance(v, int | float):
            return format_number(v)
        if isinstance(v, dict):
            return self.obj(v, depth)
        if isinstance(v, list | tuple):
            return self.value(list(v), depth)
        raise TypeError(f"cannot print {type(v).__name__} as JSON")

    def obj(self, obj: dict[str, Any], depth: int) -> str:
        if not obj:
            return "{\n" + self.tabs(depth) + "}"
        keys = self._keys
        inner = depth + 1
        members = []
        for key, item in obj.items():
            prefix = keys.get((inner, key))
            if prefix is None:
                prefix = keys[(inner, key)] = f"{self.tabs(inner)}{_string(str(key))}:\t"
            t = type(item)
            if t is str:
                members.append(prefix + _string(item))
            elif t is int:
                members.append(prefix + int.__repr__(item))
            else:
                members.append(prefix + self.value(item, inner))
        return "{\n" + ",\n".join(members) + "\n" + self.tabs(depth) + "}"


def dumps(value: Any) -> str:
    """``value`` printed the way Kamailio's jsonrpcs prints a reply."""
    return _Printer().value(value, 0)
