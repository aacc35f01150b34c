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
from typing import Any

__all__ = ["dumps", "format_number"]

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _string(s: str) -> str:
    if not any(c in _ESCAPES or c < " " for c in s):
        return f'"{s}"'
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


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


def _value(v: Any, depth: int, out: list[str]) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, str):
        out.append(_string(v))
    elif isinstance(v, int | float):
        out.append(format_number(v))
    elif isinstance(v, dict):
        _object(v, depth, out)
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(", ")
            _value(item, depth + 1, out)
        out.append("]")
    else:
        raise TypeError(f"cannot print {type(v).__name__} as JSON")


def _object(obj: dict[str, Any], depth: int, out: list[str]) -> None:
    inner = "\t" * (depth + 1)
    out.append("{\n")
    first = True
    for key, item in obj.items():
        if not first:
            out.append(",\n")
        first = False
        out.append(inner)
        out.append(_string(str(key)))
        out.append(":\t")
        _value(item, depth + 1, out)
    if not first:
        out.append("\n")
    out.append("\t" * depth)
    out.append("}")


def dumps(value: Any) -> str:
    """``value`` printed the way Kamailio's jsonrpcs prints a reply."""
    out: list[str] = []
    _value(value, 0, out)
    return "".join(out)
