"""PCRE expressions (what Kamailio's dialplan and lcr compile) as Python regular expressions.

Python's ``re`` reads most PCRE the same way. The differences dialplans and lcr rules
meet are rewritten here: POSIX classes inside brackets (``[[:digit:]]``), named groups
written ``(?<name>...)`` or ``(?'name'...)``, ``\\z`` (end of subject), ``\\Z`` (end
or before a final newline) and ``\\Q...\\E`` (everything between taken literally, as in
``\\Q+49\\E``). PCRE-only constructs with no Python equivalent (``\\K``, ``\\R``, ``\\h``,
``\\v``, ``\\X``, verbs like ``(*SKIP)``, recursion) are refused rather than read
differently.
"""

from __future__ import annotations

import re

_POSIX = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "ascii": "\\x00-\\x7f", "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\x0b\\x0c\\r ",
    "upper": "A-Z", "word": "\\w", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_UNSUPPORTED = re.compile(r"\\[KRhHvVX]|\(\*|\\g\{|\(\?R\)|\(\?[0-9+-]|\(\?&|\(\?P>")
# an escaped character, or a \Q...\E quote (to its \E or the end): what the check skips
_QUOTED = re.compile(r"\\Q.*?(?:\\E|\Z)|\\.", re.S)


class PcreError(ValueError):
    """An expression PCRE or Python cannot read the same way."""


def to_python(expression: str) -> str:
    """``expression`` rewritten for Python's ``re`` (see the module docstring)."""
    if _UNSUPPORTED.search(_QUOTED.sub(_unquoted, expression)):
        raise PcreError("uses PCRE-only syntax kamtool cannot check")
    out: list[str] = []
    i, n = 0, len(expression)
    in_class = False
    while i < n:
        c = expression[i]
        if c == "\\" and i + 1 < n:
            escaped = expression[i + 1]
            if escaped == "Q":  # literal to the next \E (or the end), in a class too
                end = expression.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(expression[i + 2 : end]))
                i = end + 2
                continue
            if escaped == "E":  # an \E with no \Q before it means nothing
                i += 2
                continue
            if not in_class and escaped == "z":
                out.append(r"\Z")
            elif not in_class and escaped == "Z":
                out.append(r"(?=\n?\Z)")
            else:
                out.append(expression[i : i + 2])
            i += 2
            continue
        if in_class:
            if expression.startswith("[:", i):
                end = expression.find(":]", i + 2)
                name = expression[i + 2 : end] if end > 0 else ""
                if name not in _POSIX:
                    raise PcreError(f"unknown or negated POSIX class [:{name}:]")
                out.append(_POSIX[name])
                i = end + 2
                continue
            if c == "]":
                in_class = False
            out.append("\\[" if c == "[" else c)  # a literal '[' (Python warns otherwise)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and expression[i] == "^":
                out.append("^")
                i += 1
            if i < n and expression[i] == "]":  # a leading ']' is a member
                out.append("\\]")
                i += 1
            continue
        if expression.startswith("(?<", i) and i + 3 < n and expression[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        if expression.startswith("(?'", i):
            end = expression.find("'", i + 3)
            if end < 0:
                raise PcreError("unterminated group name")
            out.append(f"(?P<{expression[i + 3 : end]}>")
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _unquoted(m: re.Match[str]) -> str:
    """What the check for PCRE-only syntax reads of an escape: a quote is literal text."""
    return "" if m.group().startswith("\\Q") else m.group()


def compile_pcre(expression: str) -> re.Pattern[str]:
    """A compiled pattern that matches as PCRE (default options) would; PcreError if
    the expression is invalid or cannot be checked."""
    try:
        return re.compile(to_python(expression))
    except re.error as exc:
        raise PcreError(f"is not a valid regular expression: {exc}") from None
