"""The header fields of a SIP message: :class:`Headers`, which keeps every field as its raw
line in arrival order (headers nobody touches are written back byte-exact), and the typed
parsers behind the cached views of :class:`~kamtool.sip.message.Message` (``msg.vias``,
``msg.from_``, ``msg.cseq`` ...), which read the fields through the same storage.

Text accessors return ``str`` decoded as UTF-8 with ``surrogateescape`` (any byte
survives a round trip); ``get_bytes``/``raw_lines`` give the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import LocalProtocolError, ParseError
from .headers import (
    LIST_HEADERS,
    Credentials,
    CSeq,
    NameAddr,
    Via,
    _str_name_cache,
    canonical_name,
    display_name,
    parse_auth,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_via_list,
    split_list,
)

__all__ = ["Headers"]

_MISSING = object()
_FOLD_RE = re.compile(rb"[ \t]*\r?\n[ \t]*")


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _encode(value: str | bytes | object) -> bytes:
    if isinstance(value, bytes):
        b = value
    else:
        try:
            b = str(value).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise LocalProtocolError("header value is not encodable text") from None
    if b"\r" in b or b"\n" in b:
        raise LocalProtocolError("header values must not contain CR or LF")
    return b


def _line_value(line: bytes) -> bytes:
    """Value bytes of a raw header line: after the colon, unfolded and stripped."""
    v = line[line.index(b":") + 1 :]
    if b"\n" in v:
        v = _FOLD_RE.sub(b" ", v)
    return v.strip()


class Headers:
    """Ordered, case-insensitive header fields that keep their raw bytes.

    Names may be given in any spelling or compact form (``"v"``, ``"VIA"``, ``"Via"``).

    - ``get(name)`` -> first value (str) or None; ``get_bytes(name)`` -> bytes.
    - ``get_all(name)`` -> every value; for list headers (Via, Route, Contact, Allow,
      Supported ... see :data:`~kamtool.sip.headers.LIST_HEADERS`) comma-joined lines are
      split into elements; other headers give one entry per line (Authorization,
      WWW-Authenticate, Date ... are never split).
    - ``get_lines(name)`` -> one unsplit value per line.
    - ``add(name, value)`` appends; ``prepend(name, value)`` puts it before the first field
      of that name (or at the top); ``set`` replaces; ``remove`` deletes every field.
    - iteration yields ``(name, value)`` pairs as str, names spelt as received.
    """

    __slots__ = ("_cache", "_keys", "_lines")

    def __init__(self, items: Iterable[tuple[str | bytes, str | bytes | object]] = ()) -> None:
        self._keys: list[str] = []
        self._lines: list[bytes] = []
        self._cache: dict[str, Any] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_parsed(cls, keys: list[str], lines: list[bytes]) -> Headers:
        h = cls.__new__(cls)
        h._keys = keys
        h._lines = lines
        h._cache = {}
        return h

    # -- reading -----------------------------------------------------------------------------
    # The accessors look a name up in canonical_name's cache themselves: code asks for a
    # handful of names ("via", "user-agent" ...), thousands of times a second.
    def __contains__(self, name: str) -> bool:
        return (_str_name_cache.get(name) or canonical_name(name)) in self._keys

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for line in self._lines:
            yield _decode(line[: line.index(b":")].strip()), _decode(_line_value(line))

    def items(self) -> list[tuple[str, str]]:
        """(name as received, value) for every field, in order."""
        return list(self)

    def keys(self) -> list[str]:
        """Canonical (lower-case, compact forms expanded) name of every field, in order."""
        return list(self._keys)

    def raw_lines(self) -> list[bytes]:
        """Raw bytes of every field line (no CRLF), folding kept."""
        return list(self._lines)

    def get_bytes(self, name: str, default: bytes | None = None) -> bytes | None:
        try:
            i = self._keys.index(_str_name_cache.get(name) or canonical_name(name))
        except ValueError:
            return default
        return _line_value(self._lines[i])

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` (str, unfolded, stripped), or ``default``."""
        try:
            i = self._keys.index(_str_name_cache.get(name) or canonical_name(name))
        except ValueError:
            return default
        return _line_value(self._lines[i]).decode("utf-8", "surrogateescape")

    def get_lines(self, name: str) -> list[str]:
        """One value per header line (not comma-split)."""
        return self._values(_str_name_cache.get(name) or canonical_name(name))

    def _values(self, key: str) -> list[str]:
        keys = self._keys
        n = keys.count(key)
        if n == 0:
            return []
        if n == 1:
            return [_line_value(self._lines[keys.index(key)]).decode("utf-8", "surrogateescape")]
        return [
            _line_value(line).decode("utf-8", "surrogateescape")
            for k, line in zip(keys, self._lines, strict=True)
            if k == key
        ]

    def get_all(self, name: str) -> list[str]:
        """Every value; list headers split at commas (quotes and ``<>`` respected)."""
        key = canonical_name(name)
        lines = self.get_lines(key)
        if key not in LIST_HEADERS:
            return lines
        out: list[str] = []
        for v in lines:
            out.extend(split_list(v))
        return out

    def count(self, name: str) -> int:
        """Number of header lines with this name."""
        return self._keys.count(canonical_name(name))

    # -- writing -----------------------------------------------------------------------------
    def _make_line(self, name: str | bytes, value: object) -> tuple[str, bytes]:
        key = canonical_name(name)
        if isinstance(name, bytes):
            nb = name
        else:
            nb = name.encode("ascii", "strict") if name else b""
        if not nb or b":" in nb or b" " in nb or b"\r" in nb or b"\n" in nb:
            raise LocalProtocolError(f"bad header name {name!r}")
        return key, nb + b": " + _encode(value)

    def add(self, name: str | bytes, value: object) -> None:
        """Append a header field (value: str, bytes, or a typed value such as Via)."""
        key, line = self._make_line(name, value)
        self._keys.append(key)
        self._lines.append(line)
        self._cache.pop(key, None)

    def prepend(self, name: str | bytes, value: object) -> None:
        """Insert before the first field of the same name; if there is none, at the top
        (a Via) or right after the Vias (anything else)."""
        key, line = self._make_line(name, value)
        keys = self._keys
        try:
            i = keys.index(key)
        except ValueError:
            i = 0
            if key != "via":
                while i < len(keys) and keys[i] == "via":
                    i += 1
        self._keys.insert(i, key)
        self._lines.insert(i, line)
        vias = self._cache.pop(key, None)
        if key == "via" and vias is not None and isinstance(value, Via):
            self._cache[key] = [value, *vias]  # see _keep_vias

    def set(self, name: str | bytes, value: object) -> None:
        """Replace every field of that name by one (kept at the first one's place)."""
        key, line = self._make_line(name, value)
        try:
            i = self._keys.index(key)
        except ValueError:
            self._keys.append(key)
            self._lines.append(line)
        else:
            self._lines[i] = line
            self._drop(key, start=i + 1)
        self._cache.pop(key, None)

    def remove(self, name: str) -> int:
        """Delete every field of that name; returns how many lines went."""
        key = canonical_name(name)
        n = self._drop(key)
        if n:
            self._cache.pop(key, None)
        return n

    def _drop(self, key: str, start: int = 0) -> int:
        keys, lines = self._keys, self._lines
        n = 0
        while True:  # list.index scans in C: most calls find nothing (no Route to remove)
            try:
                i = keys.index(key, start)
            except ValueError:
                return n
            del keys[i]
            del lines[i]
            n += 1
            start = i

    def pop_first_value(self, name: str) -> str | None:
        """Remove and return the first element of a list header (``Via: a, b`` -> ``a``)."""
        key = canonical_name(name)
        try:
            i = self._keys.index(key)
        except ValueError:
            return None
        line = self._lines[i]
        items = split_list(_decode(_line_value(line)))
        if len(items) <= 1:
            del self._keys[i]
            del self._lines[i]
        else:
            head = line[: line.index(b":")].rstrip()
            self._lines[i] = head + b": " + ", ".join(items[1:]).encode("utf-8", "surrogateescape")
        vias = self._cache.pop(key, None)
        if key == "via" and vias:
            self._cache[key] = vias[1:]  # see _keep_vias
        return items[0] if items else None

    def replace_first_value(self, name: str, value: object) -> None:
        """Replace the first element of a list header, keeping the others."""
        key = canonical_name(name)
        try:
            i = self._keys.index(key)
        except ValueError:
            raise LocalProtocolError(f"no {name} header to replace") from None
        line = self._lines[i]
        head = line[: line.index(b":")].rstrip()
        if b"," not in line:  # one value on the line (the usual Via): no list to split
            self._lines[i] = head + b": " + _encode(value)
        else:
            items = split_list(_decode(_line_value(line)))
            items[:1] = [_decode(_encode(value))]
            self._lines[i] = head + b": " + ", ".join(items).encode("utf-8", "surrogateescape")
        vias = self._cache.pop(key, None)
        if key == "via" and vias and isinstance(value, Via):
            self._cache[key] = [value, *vias[1:]]  # see _keep_vias

    # _keep_vias: a proxy changes only the top Via (adds its own, marks received, strips its
    # own from a response), and Vias are the costliest fields to parse, so those three edits
    # keep a parsed Via list in step instead of dropping it; copies share the parsed values
    # (they are replaced, never changed in place).

    def copy(self) -> Headers:
        h = Headers._from_parsed(list(self._keys), list(self._lines))
        h._cache = dict(self._cache)
        return h

    def to_bytes(self) -> bytes:
        """Header block: every line followed by CRLF (no final empty line)."""
        if not self._lines:
            return b""
        return b"\r\n".join(self._lines) + b"\r\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and [_line_value(x) for x in self._lines] == [
            _line_value(x) for x in other._lines
        ]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    # -- typed, cached ---------------------------------------------------------------------------
    def parsed(self, key: str, parse: Callable[[Headers], Any]) -> Any:
        """Return ``parse(self)``, cached until the headers change (internal helper)."""
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = self._cache[key] = parse(self)
        return value


# --- typed header parsers used by the Message properties -----------------------------------------
# (the hot readers decode inline: a call less per field, for every message)
def _one(h: Headers, key: str) -> str | None:
    keys = h._keys
    n = keys.count(key)
    if n == 0:
        return None
    if n > 1:
        raise ParseError(f"Multiple {display_name(key)} headers")
    line = h._lines[keys.index(key)]
    v = line[line.index(b":") + 1 :]  # _line_value, inline
    if b"\n" in v:
        v = _FOLD_RE.sub(b" ", v)
    return v.strip().decode("utf-8", "surrogateescape")


def _p_vias(h: Headers) -> list[Via]:
    out: list[Via] = []
    for v in h._values("via"):
        out.extend(parse_via_list(v))
    return out


def _p_addr(key: str) -> Callable[[Headers], NameAddr | None]:
    what = display_name(key)

    def parse(h: Headers) -> NameAddr | None:
        v = _one(h, key)
        return None if v is None else parse_name_addr(v, what)

    return parse


def _p_addr_list(key: str, allow_star: bool = False) -> Callable[[Headers], list[NameAddr]]:
    what = display_name(key)

    def parse(h: Headers) -> list[NameAddr]:
        out: list[NameAddr] = []
        for v in h._values(key):
            out.extend(parse_name_addr_list(v, what, allow_star))
        return out

    return parse


def _p_call_id(h: Headers) -> str | None:
    v = _one(h, "call-id")
    if v is not None and (not v or " " in v or "\t" in v):
        raise ParseError("Bad Call-ID header")
    return v


def _p_cseq(h: Headers) -> CSeq | None:
    v = _one(h, "cseq")
    return None if v is None else parse_cseq(v)


def _p_uint(key: str, limit: int, clamp: bool = False) -> Callable[[Headers], int | None]:
    what = display_name(key)

    def parse(h: Headers) -> int | None:
        v = _one(h, key)
        if v is None:
            return None
        if not v.isdigit() or not v.isascii():
            raise ParseError(f"Bad {what} header")
        digits = v.lstrip("0") or "0"  # (leading zeros are still the number: 0001 is 1)
        n = int(digits) if len(digits) < 20 else limit + 1
        if n > limit:
            if clamp:
                return limit
            raise ParseError(f"{what} value too large")
        return n

    return parse


_P_FROM = _p_addr("from")
_P_TO = _p_addr("to")
_P_ROUTES = _p_addr_list("route")
_P_RECORD_ROUTES = _p_addr_list("record-route")
_P_CONTACTS = _p_addr_list("contact", allow_star=True)
# 1*DIGIT in RFC 3261's grammar, no upper bound: a large value is "many hops left" (a
# proxy's maxfwd lowers it to its max_limit), read as 65535 rather than refused
_P_MAX_FORWARDS = _p_uint("max-forwards", 65535, clamp=True)
_P_CONTENT_LENGTH = _p_uint("content-length", 2**31 - 1)
_P_EXPIRES = _p_uint("expires", 2**32 - 1, clamp=True)


def _p_auth(key: str) -> Callable[[Headers], list[Credentials]]:
    def parse(h: Headers) -> list[Credentials]:
        return [parse_auth(v) for v in h._values(key)]

    return parse


_P_AUTHORIZATIONS = _p_auth("authorization")
_P_PROXY_AUTHORIZATIONS = _p_auth("proxy-authorization")


def _none() -> None:
    return None


# every header parse_message validates eagerly: (key, parser, value when absent)
_ROUTING: tuple[tuple[str, Callable[[Headers], Any], Callable[[], Any]], ...] = (
    ("call-id", _p_call_id, _none),
    ("cseq", _p_cseq, _none),
    ("via", _p_vias, list),
    ("from", _P_FROM, _none),
    ("to", _P_TO, _none),
    ("max-forwards", _P_MAX_FORWARDS, _none),
    ("content-length", _P_CONTENT_LENGTH, _none),
    ("expires", _P_EXPIRES, _none),
    ("route", _P_ROUTES, list),
    ("record-route", _P_RECORD_ROUTES, list),
    ("contact", _P_CONTACTS, list),
)
