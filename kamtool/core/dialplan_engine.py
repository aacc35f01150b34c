"""Kamailio's dialplan translation as a pure function of the ``dialplan`` rows (no I/O).

Used offline by ``kamtool dialplan translate --offline`` and, later, by the proxy's
``KSR.dialplan``. The semantics are those of Kamailio 5.6's dialplan module (checked
against ``dialplan.translate`` of a real Kamailio in tests/provisioning):

* rules of one ``dpid`` are tried by ascending ``pr`` (ties in table order); rules whose
  ``match_len`` equals the input's length come first, then those with ``match_len`` 0;
  rules with another length are never tried;
* ``match_op`` 0 compares ``match_exp`` with the whole input (case-sensitive), 1 searches
  the input with the regular expression ``match_exp`` (PCRE, unanchored), 2 is POSIX
  ``fnmatch(match_exp, input, 0)``;
* the first rule that matches decides: its ``attrs`` are returned and its output is
  *built from* ``repl_exp`` (not substituted into the input): ``\\0``..``\\9`` are the
  groups of ``subst_exp`` searched in the input, ``\\n \\r \\t \\\\ \\$`` characters,
  ``\\u`` the request URI and ``$var`` pseudo-variables. A rule whose ``subst_exp`` does
  not match fails the translation (the next rule is not tried); an empty ``repl_exp``
  gives an empty output; a ``repl_exp`` without escapes is the output as it is.
* without a SIP message (``dialplan.translate`` over RPC, and offline) ``\\u`` and
  pseudo-variables are copied literally, as Kamailio does.

Python's ``re`` stands in for PCRE (:mod:`kamtool.core.pcre` rewrites what differs and
refuses the PCRE-only syntax it cannot check).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kamtool.core.pcre import PcreError, compile_pcre

OP_EQUAL, OP_REGEX, OP_FNMATCH = 0, 1, 2
MATCH_OPS = {"equal": OP_EQUAL, "regexp": OP_REGEX, "regex": OP_REGEX, "fnmatch": OP_FNMATCH}
OP_NAMES = {OP_EQUAL: "equal", OP_REGEX: "regexp", OP_FNMATCH: "fnmatch"}

MAX_REPLACE_WITH = 10  # Kamailio's limit on escapes in repl_exp and groups in subst_exp
MAX_OUTPUT = 126  # the output buffer holds 127 bytes with the terminating NUL
MAX_ATTRS = 254


class DialplanError(ValueError):
    """A rule Kamailio would refuse to load (the whole reload fails on it)."""


# ------------------------------------------------------------------ replacement parsing


@dataclass(frozen=True)
class Token:
    """One piece of ``repl_exp``: literal ``text``, a ``group`` reference, a ``char``
    escape, the request ``uri`` (``\\u``) or a pseudo-variable ``pv``; ``raw`` is its text."""

    kind: str  # text | group | char | uri | pv
    raw: str
    value: Any = None


_PV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_CHAR_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}


def _balanced(text: str, start: int, opening: str, closing: str) -> int:
    """Index just past the bracket that closes ``text[start]`` (== opening); -1 if none."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def pv_span(text: str, start: int) -> int:
    """End of the pseudo-variable starting at ``text[start] == '$'``; raises when it is
    not one (Kamailio: "bad specifier in replace part")."""
    i = start + 1
    if i < len(text) and text[i] == "(":  # $(name(inner)[idx]{transformations})
        end = _balanced(text, i, "(", ")")
        if end < 0:
            raise DialplanError(f"unterminated pseudo-variable at '{text[start:]}'")
        return end
    m = _PV_NAME.match(text, i)
    if not m:
        raise DialplanError(f"bad pseudo-variable at '{text[start:]}'")
    end = m.end()
    for opening, closing in (("(", ")"), ("[", "]")):
        if end < len(text) and text[end] == opening:
            close = _balanced(text, end, opening, closing)
            if close < 0:
                raise DialplanError(f"unterminated pseudo-variable at '{text[start:]}'")
            end = close
    return end


def parse_replacement(repl: str) -> tuple[list[Token], int]:
    """``repl_exp`` as tokens, and the highest group it refers to (as core/re.c parses
    a replacement: a backslash escapes the next character, ``$`` starts a variable)."""
    tokens: list[Token] = []
    escapes = 0
    max_group = 0
    literal_from = 0
    i = 0

    def flush(upto: int) -> None:
        if upto > literal_from:
            tokens.append(Token("text", repl[literal_from:upto]))

    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl):
            flush(i)
            n = repl[i + 1]
            raw = repl[i : i + 2]
            if n.isdigit():
                tokens.append(Token("group", raw, int(n)))
                max_group = max(max_group, int(n))
            elif n == "u":
                tokens.append(Token("uri", raw))
            else:  # known escapes, and any other character stands for itself
                tokens.append(Token("char", raw, _CHAR_ESCAPES.get(n, n)))
            escapes += 1
            i += 2
            literal_from = i
            if escapes >= MAX_REPLACE_WITH:  # counted here only, as core/re.c does
                raise DialplanError(f"too many escapes in the replacement '{repl}' (at most 9)")
        elif c == "$":
            flush(i)
            end = pv_span(repl, i)
            tokens.append(Token("pv", repl[i:end]))
            escapes += 1
            i = end
            literal_from = i
        else:
            i += 1
    flush(len(repl))  # a trailing lone backslash stays as text
    return tokens, max_group


# ------------------------------------------------------------------ fnmatch


_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}  # fmt: skip


def fnmatch_regex(pattern: str) -> re.Pattern[str]:
    """POSIX ``fnmatch(pattern, s, 0)`` as a regular expression: ``*``, ``?``, bracket
    expressions (``!`` or ``^`` negates, ``[:digit:]`` classes), backslash escapes; ``/``
    and a leading ``.`` are ordinary characters (no FNM_PATHNAME, FNM_PERIOD)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            j = i
            negate = j < n and pattern[j] in "!^"
            if negate:
                j += 1
            items: list[str] = []
            first = True
            while j < n and (pattern[j] != "]" or first):
                first = False
                if pattern.startswith("[:", j):
                    end = pattern.find(":]", j + 2)
                    name = pattern[j + 2 : end] if end > 0 else ""
                    if name in _CLASSES:
                        items.append(_CLASSES[name])
                        j = end + 2
                        continue
                if pattern[j] == "\\" and j + 1 < n:
                    j += 1
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    items.append(re.escape(pattern[j]) + "-" + re.escape(pattern[j + 2]))
                    j += 3
                    continue
                items.append(re.escape(pattern[j]))
                j += 1
            if j >= n:  # no closing bracket: '[' is an ordinary character
                out.append(re.escape("["))
                continue
            out.append("[" + ("^" if negate else "") + "".join(items) + "]")
            i = j + 1
        else:
            out.append(re.escape(c))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


# ------------------------------------------------------------------ rules


def compile_regex(expression: str, what: str) -> re.Pattern[str]:
    """``expression`` as PCRE would read it, or DialplanError naming ``what``."""
    try:
        return compile_pcre(expression)
    except PcreError as exc:
        raise DialplanError(f"{what} '{expression}' {exc}") from None


@dataclass
class Rule:
    """One ``dialplan`` row, checked and compiled as Kamailio loads it."""

    dpid: int
    pr: int
    match_op: int
    match_exp: str
    match_len: int = 0
    subst_exp: str = ""
    repl_exp: str = ""
    attrs: str = ""
    id: int | None = None
    _match: Any = field(default=None, repr=False, compare=False)
    _subst: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _repl: list[Token] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.match_op not in OP_NAMES:
            raise DialplanError(
                f"match_op {self.match_op} is not 0 (equal), 1 (regexp), 2 (fnmatch)"
            )
        if self.match_op == OP_REGEX:
            self._match = compile_regex(self.match_exp, "match_exp")
        elif self.match_op == OP_FNMATCH and self.match_exp:
            self._match = fnmatch_regex(self.match_exp)
        groups = 0
        if self.subst_exp:
            self._subst = compile_regex(self.subst_exp, "subst_exp")
            groups = self._subst.groups
            if groups > MAX_REPLACE_WITH:
                raise DialplanError(
                    f"subst_exp '{self.subst_exp}' has {groups} groups (at most {MAX_REPLACE_WITH})"
                )
        if self.repl_exp:
            self._repl, highest = parse_replacement(self.repl_exp)
            if highest > groups:
                raise DialplanError(
                    f"repl_exp '{self.repl_exp}' refers to group {highest} but subst_exp "
                    f"'{self.subst_exp}' has {groups}"
                )
            copied = self._subst is None or all(t.kind == "text" for t in self._repl)
            if copied and len(self.repl_exp.encode()) > MAX_OUTPUT:
                # Kamailio copies such a replacement into its 127-byte output buffer
                # without a length check (a buffer overflow): refused here
                raise DialplanError(
                    f"repl_exp is longer than {MAX_OUTPUT} bytes, the most Kamailio's "
                    "output can hold"
                )
        if len(self.attrs) > MAX_ATTRS:
            raise DialplanError(f"attrs longer than {MAX_ATTRS} characters")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rule:
        return cls(
            dpid=int(row["dpid"]), pr=int(row["pr"]), match_op=int(row["match_op"]),
            match_exp=row["match_exp"] or "", match_len=int(row["match_len"] or 0),
            subst_exp=row["subst_exp"] or "", repl_exp=row["repl_exp"] or "",
            attrs=row["attrs"] or "", id=row.get("id"),
        )  # fmt: skip

    def matches(self, value: str, message: Message | None = None) -> bool:
        """``value`` matches; with ``message`` (dialplan's ``match_dynamic``) the
        pseudo-variables of a regexp ``match_exp`` are replaced by their values first."""
        if self.match_op == OP_EQUAL:
            return bool(self.match_exp) and self.match_exp == value
        if self.match_op == OP_REGEX:
            pattern = self._match
            if message is not None and self._dynamic:
                pattern = _dynamic_regex(_expand_pvs(self.match_exp, message))
                if pattern is None:
                    return False
            return pattern.search(value) is not None
        return self._match is not None and self._match.match(value) is not None

    @property
    def _dynamic(self) -> bool:
        """A regexp ``match_exp`` with pseudo-variables (``^$var(prefix)``)."""
        return self.match_op == OP_REGEX and _PV_START.search(self.match_exp) is not None

    def output(self, value: str, message: Message | None = None) -> str | None:
        """The translation of ``value`` (which matched), or None when it fails."""
        found = None
        if self._subst is not None:
            found = self._subst.search(value)
            if found is None:
                return None
        if self._repl is None:
            return ""
        if found is None or not any(t.kind != "text" for t in self._repl):
            return self.repl_exp  # copied as it is, escapes and all (Kamailio does so)
        parts: list[str] = []
        for token in self._repl:
            if token.kind == "text":
                parts.append(token.raw)
            elif token.kind == "group":
                parts.append(found.group(token.value) or "")
            elif token.kind == "char":
                parts.append(token.value)
            elif message is None:  # no SIP message: Kamailio leaves \u and $var as written
                parts.append(token.raw)
            elif token.kind == "uri":
                parts.append(message.ruri)
            else:
                parts.append(message.pv(token.raw) or "")
        out = "".join(parts)
        # Kamailio fails outputs over its buffer (it does not check the text after the
        # last escape, and could overflow there: failed here too)
        return out if len(out.encode()) <= MAX_OUTPUT else None


# "$" that starts a pseudo-variable ($var(x), $rU, $(avp(a)[0])), not a regex's end anchor
_PV_START = re.compile(r"\$[(A-Za-z_]")


def _match_pv_end(text: str, start: int) -> int:
    """End of the variable at ``text[start] == '$'`` in a match_exp: ``$(...)`` whole,
    else the name and its ``(...)``; a ``[`` after that is the regex's own (a character
    class, as Kamailio reads ``^$var(pre)[0-9]``). -1 when it is no variable."""
    i = start + 1
    if i < len(text) and text[i] == "(":
        return _balanced(text, i, "(", ")")
    m = _PV_NAME.match(text, i)
    if not m:
        return -1
    end = m.end()
    if end < len(text) and text[end] == "(":
        return _balanced(text, end, "(", ")")
    return end


def _expand_pvs(expression: str, message: Message) -> str:
    """``expression`` with each pseudo-variable replaced by its value ("" when unset)."""
    out, i = [], 0
    for m in _PV_START.finditer(expression):
        if m.start() < i:
            continue
        end = _match_pv_end(expression, m.start())
        if end < 0:
            continue
        out += [expression[i : m.start()], message.pv(expression[m.start() : end]) or ""]
        i = end
    return "".join(out) + expression[i:]


@functools.lru_cache(maxsize=256)  # the same values come again and again
def _dynamic_regex(expression: str) -> re.Pattern[str] | None:
    """A ``match_exp`` compiled once its variables are in (None: no valid regex then, and
    the rule does not match, as Kamailio's failed compile)."""
    try:
        return compile_regex(expression, "match_exp")
    except DialplanError:
        return None


@dataclass
class Message:
    """What a translation inside a route may read: the request URI and pseudo-variables."""

    ruri: str = ""
    pv: Callable[[str], str | None] = lambda name: None


@dataclass(frozen=True)
class Translation:
    """A successful translation: the output, the rule's attrs and the rule itself."""

    output: str
    attrs: str
    rule: Rule


class Dialplan:
    """All rules, grouped by dpid and ordered as Kamailio tries them."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        by_dpid: dict[int, list[Rule]] = {}
        # ORDER BY pr, as the module queries; ties keep table (id) order
        for rule in sorted(rules, key=lambda r: (r.pr, r.id if r.id is not None else 0)):
            by_dpid.setdefault(rule.dpid, []).append(rule)
        self.rules = by_dpid

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Dialplan:
        return cls(Rule.from_row(r) for r in rows)

    def __contains__(self, dpid: int) -> bool:
        return dpid in self.rules

    def ordered(self, dpid: int) -> list[Rule]:
        """The rules of ``dpid`` as ``dialplan.dump`` lists them: by match_len ascending
        with match_len 0 last, each length by priority."""
        rules = self.rules.get(dpid, [])
        lengths = sorted({r.match_len for r in rules}, key=lambda n: (n == 0, n))
        return [r for n in lengths for r in rules if r.match_len == n]

    def candidates(self, dpid: int, value: str) -> list[Rule]:
        """The rules tried for ``value``: its length first, then match_len 0."""
        size = len(value.encode())
        rules = self.rules.get(dpid, [])
        return [r for r in rules if r.match_len == size and size] + [
            r for r in rules if r.match_len == 0
        ]

    def match(
        self, dpid: int, value: str, message: Message | None = None, *, dynamic: bool = False
    ) -> Rule | None:
        """The rule that decides ``value`` in ``dpid`` (``dp_match``), or None. With
        ``dynamic`` (``match_dynamic``) and a ``message``, variables in regexp
        ``match_exp`` take their values from it; otherwise they are regex text."""
        if not value:
            return None
        context = message if dynamic else None
        for rule in self.candidates(dpid, value):
            if rule.matches(value, context):
                return rule
        return None

    def translate(
        self, dpid: int, value: str, message: Message | None = None, *, dynamic: bool = False
    ) -> Translation | None:
        """``dp_translate``: None when no rule matches or the matching rule fails."""
        rule = self.match(dpid, value, message, dynamic=dynamic)
        if rule is None:
            return None
        output = rule.output(value, message)
        if output is None:
            return None
        return Translation(output, rule.attrs, rule)
