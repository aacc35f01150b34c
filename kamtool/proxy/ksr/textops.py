"""``KSR.textops``: Kamailio's textops module for KEMI scripts — regular expressions over
the message, its headers and body (``search``, ``subst``, ``replace*``, ``remove_hf_re`` ...),
``set_body``, and the string helpers (``in_list``, ``starts_with``, ``cmp_str`` ...).

Kamailio compiles these as POSIX extended expressions, case-insensitive and newline-aware
(``^`` and ``$`` match at every line, as a header line's start); the sed-like ``subst``
family (``/re/replacement/flags``) is newline-aware and case-sensitive unless the flags
say ``i``; ``g`` replaces every match, ``s`` makes it not newline-aware. Expressions go
through :func:`kamtool.core.pcre.to_python` (POSIX classes such as ``[[:digit:]]``).
Edits show at once in kamtool (Kamailio applies them as the message leaves).
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.core.pcre import PcreError, to_python
from kamtool.proxy.ksr import hdr
from kamtool.proxy.ksr.context import state
from kamtool.sip.errors import LocalProtocolError, ParseError
from kamtool.sip.header_fields import Headers
from kamtool.sip.headers import canonical_name
from kamtool.sip.parser import parse_message

_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}
RE_FLAGS = re.I | re.M  # textops' REG_ICASE | REG_NEWLINE
_LENGTH = re.compile(r"^(?:content-length|l)[ \t]*:[^\n]*\n", re.I | re.M)


def compile_re(expr: str, flags: int = RE_FLAGS) -> re.Pattern[str]:
    """A textops expression as a Python pattern (cached)."""
    key = (expr, flags)
    pat = _CACHE.get(key)
    if pat is None:
        try:
            text = to_python(expr)
        except PcreError:
            text = expr
        pat = re.compile(text, flags)
        if len(_CACHE) < 1024:
            _CACHE[key] = pat
    return pat


def parse_subst(expr: str) -> tuple[re.Pattern[str], str, bool]:
    """``/re/replacement/flags`` (any delimiter, ``\\`` escapes it) → (pattern, Python
    replacement, replace every match)."""
    text = str(expr)
    if len(text) < 4:
        raise ValueError(f"subst expression too short: {text!r}")
    sep = text[0]
    parts: list[str] = []
    cur: list[str] = []
    i = 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] == sep:
            cur.append(sep)
            i += 2
            continue
        if c == sep and len(parts) < 2:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if len(parts) != 2:
        raise ValueError(f"bad subst expression {text!r}")
    flags_text = "".join(cur)
    flags = re.M
    if "i" in flags_text:
        flags |= re.I
    if "s" in flags_text:
        flags &= ~re.M
    # \N back-references are Python's as they are; "&" is not special in Kamailio's
    repl = parts[1].replace("\\\\", "\0").replace("\\n", "\n").replace("\\r", "\r")
    repl = re.sub(r"\\([0-9])", r"\\g<\1>", repl).replace("\0", "\\\\")
    return compile_re(parts[0], flags), repl, "g" in flags_text


def _apply(pat: re.Pattern[str], repl: str, text: str, every: bool) -> tuple[str, int]:
    return pat.subn(repl, text, count=0 if every else 1)


# ------------------------------------------------------------------ the message as text


def _head_and_body() -> tuple[str, str, str]:
    """The message as (start line, header lines with their final CRLF, body)."""
    msg = state.ctx.msg
    raw = msg.to_bytes().decode("utf-8", "surrogateescape")
    first, _, rest = raw.partition("\r\n")
    head, _, body = rest.partition("\r\n\r\n")
    return first, head + "\r\n", body


def _rebuild(first: str, head: str, body: str) -> bool:
    """Make the message in hand the one ``first``/``head``/``body`` spell (False when that
    no longer parses: nothing changes)."""
    msg = state.ctx.msg
    head = _LENGTH.sub("", head)  # the body's length may have changed (to_bytes writes it)
    data = f"{first}\r\n{head}\r\n{body}".encode("utf-8", "surrogateescape")
    try:
        new = parse_message(data, eager=False)
    except ParseError:
        return False
    msg.headers = new.headers
    msg.body = new.body if body else b""
    if msg.is_request and getattr(new, "uri_text", None) != msg.uri_text:
        msg.uri = new.uri_text
    return True


def _edit_text(pat: re.Pattern[str], repl: str, every: bool, *, body_only: bool = False,
               literal: bool = False) -> int:  # fmt: skip
    """Replace in the headers and body (or the body only); 1 when something matched."""
    first, head, body = _head_and_body()
    if literal:
        repl = repl.replace("\\", "\\\\")
    if body_only:
        body, n = _apply(pat, repl, body, every)
    else:
        text, n = _apply(pat, repl, head + "\r\n" + body, every)
        head, _, body = text.partition("\r\n\r\n")
        head += "\r\n"
    if not n:
        return -1
    return 1 if _rebuild(first, head, body) else -1


def search(regex: str) -> int:
    """1 when the expression matches in the message (start line, headers, body)."""
    text = state.ctx.msg.to_bytes().decode("utf-8", "replace")
    return 1 if compile_re(str(regex)).search(text) else -1


def search_body(regex: str) -> int:
    body = (state.ctx.msg.body or b"").decode("utf-8", "replace")
    return 1 if body and compile_re(str(regex)).search(body) else -1


def search_hf(name: str, regex: str, flags: str) -> int:
    """1 when a field of ``name`` matches: any (``a``, the default), the first (``f``) or
    the last (``l``)."""
    values = hdr._values(name)
    pick = str(flags)[:1].lower()
    if pick == "f":
        values = values[:1]
    elif pick == "l":
        values = values[-1:]
    pat = compile_re(str(regex))
    return 1 if any(pat.search(v) for v in values) else -1


def search_append(regex: str, text: str) -> int:
    """Add ``text`` after the first match in the message."""
    first, head, body = _head_and_body()
    whole = head + "\r\n" + body
    m = compile_re(str(regex)).search(whole)
    if m is None:
        return -1
    whole = whole[: m.end()] + str(text) + whole[m.end() :]
    head, _, body = whole.partition("\r\n\r\n")
    return 1 if _rebuild(first, head + "\r\n", body) else -1


def subst(expr: str) -> int:
    pat, repl, every = parse_subst(expr)
    return _edit_text(pat, repl, every)


def subst_body(expr: str) -> int:
    pat, repl, every = parse_subst(expr)
    return _edit_text(pat, repl, every, body_only=True)


def subst_uri(expr: str) -> int:
    """The sed expression on the R-URI (1 when it matched and the result is a URI)."""
    msg = state.ctx.msg
    if not msg.is_request:
        return -1
    pat, repl, every = parse_subst(expr)
    new, n = _apply(pat, repl, msg.uri_text, every)
    if not n:
        return -1
    try:
        msg.uri = new
    except (ParseError, LocalProtocolError, ValueError):
        return -1
    return 1


def subst_user(expr: str) -> int:
    """The sed expression on the R-URI's user (an empty result removes the user)."""
    msg = state.ctx.msg
    uri = msg.uri if msg.is_request else None
    if uri is None or not hasattr(uri, "user"):
        return -1
    pat, repl, every = parse_subst(expr)
    new, n = _apply(pat, repl, uri.user or "", every)
    if not n:
        return -1
    msg.uri = uri.replace(user=new or None)
    return 1


def subst_hf(name: str, expr: str, flags: str) -> int:
    """The sed expression on the fields of ``name``: the first (``f``), the last (``l``)
    or all (``a``)."""
    pat, repl, every = parse_subst(expr)
    msg = state.ctx.msg
    key = canonical_name(str(name))
    items = list(msg.headers)
    idx = [i for i, (n, _) in enumerate(items) if canonical_name(n) == key]
    pick = str(flags)[:1].lower()
    if pick == "f":
        idx = idx[:1]
    elif pick == "l":
        idx = idx[-1:]
    changed = 0
    for i in idx:
        new, n = _apply(pat, repl, items[i][1], every)
        if n:
            items[i] = (items[i][0], new)
            changed += 1
    if not changed:
        return -1
    msg.headers = Headers(items)
    return 1


def replace(regex: str, text: str) -> int:
    return _edit_text(compile_re(str(regex)), str(text), False, literal=True)


def replace_all(regex: str, text: str) -> int:
    return _edit_text(compile_re(str(regex)), str(text), True, literal=True)


def replace_body(regex: str, text: str) -> int:
    return _edit_text(compile_re(str(regex)), str(text), False, body_only=True, literal=True)


def replace_body_all(regex: str, text: str) -> int:
    return _edit_text(compile_re(str(regex)), str(text), True, body_only=True, literal=True)


def _remove_names(match: re.Pattern[str], skip: re.Pattern[str] | None = None) -> int:
    msg = state.ctx.msg
    items = list(msg.headers)
    kept = [(n, v) for n, v in items
            if not match.search(n) or (skip is not None and skip.search(n))]  # fmt: skip
    if len(kept) == len(items):
        return -1
    msg.headers = Headers(kept)
    return 1


def remove_hf_re(regex: str) -> int:
    """Remove the headers whose name matches (-1 when none does)."""
    return _remove_names(compile_re(str(regex)))


def remove_hf_exp(regex: str, skip: str) -> int:
    """Remove the headers whose name matches ``regex`` but not ``skip``."""
    return _remove_names(compile_re(str(regex)), compile_re(str(skip)))


def is_present_hf_re(regex: str) -> int:
    pat = compile_re(str(regex))
    return 1 if any(pat.search(n) for n, _ in state.ctx.msg.headers) else -1


def set_body(body: str, content_type: str) -> int:
    """Replace the body and its Content-Type."""
    msg = state.ctx.msg
    msg.body = str(body).encode()
    msg.headers.remove("Content-Type")
    msg.headers.add("Content-Type", str(content_type))
    return 1


def has_body_type(content_type: str) -> int:
    """1 when the message has a body of that type (no Content-Type: application/sdp)."""
    msg = state.ctx.msg
    if not msg.body:
        return -1
    ctype = (msg.headers.get("Content-Type") or "application/sdp").split(";")[0]
    return 1 if ctype.strip().lower() == str(content_type).strip().lower() else -1


def _items(values: str, sep: str) -> list[str]:
    return [v.strip() for v in str(values).split(str(sep)[:1] or ",")]


def in_list(subject: str, values: str, sep: str) -> int:
    """1 when ``subject`` is one of the ``sep``-separated ``values`` (trimmed)."""
    return 1 if str(subject) in _items(values, sep) else -1


def in_list_prefix(subject: str, values: str, sep: str) -> int:
    """1 when one of the ``values`` is a prefix of ``subject``."""
    return 1 if any(v and str(subject).startswith(v) for v in _items(values, sep)) else -1


def _cmp(a: str, b: str) -> int:
    return 1 if a == b else (-2 if a < b else -1)


def str_find(text: str, needle: str) -> int:
    """The position of ``needle`` in ``text`` counted from 1 (Kamailio's), -1 if absent."""
    at = str(text).find(str(needle))
    return -1 if at < 0 else at + 1


def is_privacy(value: str) -> int:
    """1 when a Privacy header of the message lists ``value``."""
    tokens = {t.strip().lower() for v in hdr._values("Privacy") for t in v.split(";")}
    return 1 if str(value).lower() in tokens else -1


def textops_functions() -> dict[str, Any]:
    """``KSR.textops``."""
    return {
        "search": search, "search_body": search_body, "is_present_hf": hdr.is_present,
        "append_hf": hdr.append, "insert_hf": hdr.insert,
        "has_body": lambda: 1 if state.ctx.msg.body else -1,
        "search_hf": search_hf, "search_append": search_append, "subst": subst,
        "subst_uri": subst_uri, "subst_user": subst_user, "subst_body": subst_body,
        "subst_hf": subst_hf, "replace": replace, "replace_all": replace_all,
        "replace_body": replace_body, "replace_body_all": replace_body_all,
        "replace_body_atonce": replace_body_all, "remove_hf": hdr.remove,
        "remove_hf_re": remove_hf_re, "remove_hf_exp": remove_hf_exp,
        "is_present_hf_re": is_present_hf_re, "set_body": set_body,
        "has_body_type": has_body_type, "in_list": in_list,
        "in_list_prefix": in_list_prefix,
        "starts_with": lambda s, p: 1 if str(s).startswith(str(p)) else -1,
        "ends_with": lambda s, p: 1 if str(s).endswith(str(p)) else -1,
        "cmp_str": lambda a, b: _cmp(str(a), str(b)),
        "cmp_istr": lambda a, b: _cmp(str(a).lower(), str(b).lower()),
        "search_str": lambda s, r: 1 if compile_re(str(r)).search(str(s)) else -1,
        "str_find": str_find,
        "str_ifind": lambda t, n: str_find(str(t).lower(), str(n).lower()),
        "is_privacy": is_privacy,
    }  # fmt: skip
