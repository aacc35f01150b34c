"""SIP messages: :class:`Request`, :class:`Response` and their :class:`Headers`.

Storage is bytes: every header field is kept as its raw line (name, colon, value, folding
and all) in arrival order, so headers nobody touches are written back byte-exact. Typed
views (``msg.vias``, ``msg.from_``, ``msg.cseq`` ...) are parsed on first access and cached
until the headers change. :func:`kamtool.sip.parse_message` fills the cache eagerly for
the routing headers, so a message it returns has them validated already.

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
    canonical_name,
    display_name,
    parse_auth,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_via_list,
    split_list,
)
from .uri import URI, parse_uri

__all__ = ["REASON_PHRASES", "Headers", "Message", "Request", "Response", "make_response"]

_MISSING = object()
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_FOLD_RE = re.compile(rb"[ \t]*\r?\n[ \t]*")
_BAD_VALUE_RE = re.compile(r"[\r\n\x00]")


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
    def __contains__(self, name: str) -> bool:
        return canonical_name(name) in self._keys

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
            i = self._keys.index(canonical_name(name))
        except ValueError:
            return default
        return _line_value(self._lines[i])

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` (str, unfolded, stripped), or ``default``."""
        b = self.get_bytes(name)
        return default if b is None else _decode(b)

    def get_lines(self, name: str) -> list[str]:
        """One value per header line (not comma-split)."""
        return self._values(canonical_name(name))

    def _values(self, key: str) -> list[str]:
        keys = self._keys
        n = keys.count(key)
        if n == 0:
            return []
        if n == 1:
            return [_decode(_line_value(self._lines[keys.index(key)]))]
        return [
            _decode(_line_value(line))
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
        n = 0
        i = len(self._keys) - 1
        while i >= start:
            if self._keys[i] == key:
                del self._keys[i]
                del self._lines[i]
                n += 1
            i -= 1
        return n

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
def _one(h: Headers, key: str) -> str | None:
    keys = h._keys
    n = keys.count(key)
    if n == 0:
        return None
    if n > 1:
        raise ParseError(f"Multiple {display_name(key)} headers")
    return _decode(_line_value(h._lines[keys.index(key)]))


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
        n = int(v) if len(v) < 20 else limit + 1
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
_P_MAX_FORWARDS = _p_uint("max-forwards", 255)
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


class Message:
    """Common part of :class:`Request` and :class:`Response`.

    ``headers`` (:class:`Headers`) and ``body`` (bytes) are plain attributes. Typed
    properties below parse on first use (``parse_message`` already did for routing
    headers) and may raise :class:`~kamtool.sip.ParseError` for a malformed field.
    """

    __slots__ = ("body", "headers", "version")

    def __init__(
        self,
        headers: Headers | Iterable[tuple[str | bytes, object]] = (),
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = bytes(body)
        self.version = version

    is_request = False

    # -- routing headers -------------------------------------------------------------------------
    # (each reads and fills the cache itself, as Headers.parsed does, minus a call per
    # access: routing reads these fields many times per message)
    @property
    def call_id(self) -> str | None:
        h = self.headers
        v = h._cache.get("call-id", _MISSING)
        if v is _MISSING:
            v = h._cache["call-id"] = _p_call_id(h)
        return v

    @property
    def cseq(self) -> CSeq | None:
        """``CSeq(num, method)``."""
        h = self.headers
        v = h._cache.get("cseq", _MISSING)
        if v is _MISSING:
            v = h._cache["cseq"] = _p_cseq(h)
        return v

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first (comma-joined lines split)."""
        h = self.headers
        v = h._cache.get("via", _MISSING)
        if v is _MISSING:
            v = h._cache["via"] = _p_vias(h)
        return v

    @property
    def top_via(self) -> Via | None:
        v = self.vias
        return v[0] if v else None

    @property
    def from_(self) -> NameAddr | None:
        h = self.headers
        v = h._cache.get("from", _MISSING)
        if v is _MISSING:
            v = h._cache["from"] = _P_FROM(h)
        return v

    @property
    def to(self) -> NameAddr | None:
        h = self.headers
        v = h._cache.get("to", _MISSING)
        if v is _MISSING:
            v = h._cache["to"] = _P_TO(h)
        return v

    @property
    def from_tag(self) -> str | None:
        f = self.from_
        return f.tag if f is not None else None

    @property
    def to_tag(self) -> str | None:
        t = self.to
        return t.tag if t is not None else None

    @property
    def max_forwards(self) -> int | None:
        h = self.headers
        v = h._cache.get("max-forwards", _MISSING)
        if v is _MISSING:
            v = h._cache["max-forwards"] = _P_MAX_FORWARDS(h)
        return v

    @property
    def routes(self) -> list[NameAddr]:
        """Route values, top first."""
        h = self.headers
        v = h._cache.get("route", _MISSING)
        if v is _MISSING:
            v = h._cache["route"] = _P_ROUTES(h)
        return v

    @property
    def record_routes(self) -> list[NameAddr]:
        """Record-Route values, top first."""
        h = self.headers
        v = h._cache.get("record-route", _MISSING)
        if v is _MISSING:
            v = h._cache["record-route"] = _P_RECORD_ROUTES(h)
        return v

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; ``Contact: *`` gives one NameAddr with ``is_star`` True."""
        h = self.headers
        v = h._cache.get("contact", _MISSING)
        if v is _MISSING:
            v = h._cache["contact"] = _P_CONTACTS(h)
        return v

    @property
    def expires(self) -> int | None:
        """Expires header (delta-seconds, clamped to 2**32-1), or None."""
        h = self.headers
        v = h._cache.get("expires", _MISSING)
        if v is _MISSING:
            v = h._cache["expires"] = _P_EXPIRES(h)
        return v

    @property
    def content_length(self) -> int | None:
        """Content-Length as declared in the header (None if absent)."""
        h = self.headers
        v = h._cache.get("content-length", _MISSING)
        if v is _MISSING:
            v = h._cache["content-length"] = _P_CONTENT_LENGTH(h)
        return v

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def authorizations(self) -> list[Credentials]:
        """Authorization headers, parsed (one entry per header line)."""
        return self.headers.parsed("authorization", _P_AUTHORIZATIONS)

    @property
    def proxy_authorizations(self) -> list[Credentials]:
        return self.headers.parsed("proxy-authorization", _P_PROXY_AUTHORIZATIONS)

    def validate(self) -> None:
        """Parse every routing header now; raises :class:`ParseError` if one is malformed."""
        h = self.headers
        cache = h._cache
        keys = h._keys
        for key, parse, empty in _ROUTING:
            if key not in cache:
                cache[key] = parse(h) if key in keys else empty()

    # -- mutation the proxy needs ------------------------------------------------------------------
    def prepend_via(self, via: Via | str) -> None:
        """Add a Via on top (RFC 3261 16.6 step 8)."""
        self.headers.prepend("Via", via)

    def pop_via(self) -> Via | None:
        """Remove the top Via and return it (a proxy forwarding a response, 16.7 step 3)."""
        vias = self.vias
        if not vias:
            return None
        self.headers.pop_first_value("via")
        return vias[0]

    def replace_top_via(self, via: Via | str) -> None:
        """Rewrite the top Via (e.g. with ``received``/``rport`` added, RFC 3581)."""
        self.headers.replace_first_value("via", via)

    def prepend_route(self, addr: NameAddr | str) -> None:
        """Add a Route value on top (pre-loaded route set or next hop)."""
        self.headers.prepend("Route", addr)

    def pop_route(self) -> NameAddr | None:
        """Remove the top Route and return it (loose routing, RFC 3261 16.4)."""
        routes = self.routes
        if not routes:
            return None
        self.headers.pop_first_value("route")
        return routes[0]

    def prepend_record_route(self, addr: NameAddr | str) -> None:
        """Add a Record-Route value on top (RFC 3261 16.6 step 4)."""
        self.headers.prepend("Record-Route", addr)

    # -- serialisation ---------------------------------------------------------------------------
    def _start_line(self) -> bytes:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Wire form. The Content-Length header is set (or added) to match ``body``."""
        h = self.headers
        n = len(self.body)
        if "content-length" not in h._keys:  # the usual case for a message we built
            h._keys.append("content-length")
            h._lines.append(b"Content-Length: %d" % n)
            h._cache["content-length"] = n
        else:
            try:
                declared = self.content_length
            except ParseError:
                declared = None
            if declared != n or h._keys.count("content-length") != 1:
                name = h._lines[h._keys.index("content-length")].split(b":", 1)[0].rstrip()
                h.set(name, str(n))
        lines = h._lines
        return (
            b"".join(
                (
                    self._start_line(),
                    b"\r\n",
                    b"\r\n".join(lines),
                    b"\r\n\r\n" if lines else b"\r\n",
                )
            )
            + self.body
        )

    __bytes__ = to_bytes

    def copy(self) -> Message:
        raise NotImplementedError


class Request(Message):
    """A SIP request: ``method`` (str), ``uri`` (parsed Request-URI), headers, body.

    Build one with ``Request("OPTIONS", "sip:bob@example.com", [("Via", ...), ...])``.
    ``uri`` may be assigned a URI object or a string (replacing the Request-URI).
    """

    __slots__ = ("_uri", "_uri_text", "method")

    is_request = True

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: Headers | Iterable[tuple[str | bytes, object]] = (),
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        if not _TOKEN_RE.fullmatch(method):
            raise LocalProtocolError(f"bad method {method!r}")
        self.method = method
        self._uri: URI | None = None
        self._uri_text = ""
        self.uri = uri  # type: ignore[assignment]

    @property
    def uri(self) -> URI:
        """The Request-URI (SipURI, TelURI or AbsoluteURI)."""
        if self._uri is None:
            self._uri = parse_uri(self._uri_text, "Request-URI")
        return self._uri

    @uri.setter
    def uri(self, value: URI | str) -> None:
        if isinstance(value, str):
            if not value or any(c in value for c in " \t\r\n"):
                raise LocalProtocolError("bad Request-URI")
            self._uri_text = value
            self._uri = None
        else:
            self._uri = value
            self._uri_text = str(value)

    @property
    def uri_text(self) -> str:
        """The Request-URI exactly as it will be written."""
        return self._uri_text

    def decrement_max_forwards(self, default: int = 70) -> int:
        """Max-Forwards minus one, written back; adds ``default - 1`` when absent (16.6 step 3).

        Returns the new value. Check ``max_forwards == 0`` first (483, 16.3 step 2).
        """
        mf = self.max_forwards
        new = default - 1 if mf is None else max(mf - 1, 0)
        self.headers.set("Max-Forwards", str(new))
        return new

    def _start_line(self) -> bytes:
        return f"{self.method} {self._uri_text} {self.version}".encode("utf-8", "surrogateescape")

    def copy(self) -> Request:
        """Independent copy (headers and body), e.g. one per fork."""
        r = Request(self.method, self._uri_text, self.headers.copy(), self.body, self.version)
        r._uri = self._uri
        return r

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self._uri_text == other._uri_text
            and self.version == other.version
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text} call-id={self.call_id!r}>"


class Response(Message):
    """A SIP response: ``status`` (int), ``reason`` (str), headers, body."""

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str | bytes, object]] = (),
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        super().__init__(headers, body, version)
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"bad status code {status}")
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise LocalProtocolError("reason phrase must not contain CR or LF")
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason

    @property
    def status_class(self) -> int:
        """1 for provisional, 2 for success ... 6 for global failure."""
        return self.status // 100

    def _start_line(self) -> bytes:
        return f"{self.version} {self.status} {self.reason}".encode("utf-8", "surrogateescape")

    def copy(self) -> Response:
        return Response(self.status, self.reason, self.headers.copy(), self.body, self.version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.version == other.version
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.call_id!r}>"


#: Default reason phrases (RFC 3261 section 21 and later extensions).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, object]] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> Response:
    """Build a response to ``request`` as RFC 3261 section 8.2.6 says.

    Copies every Via (same order), From, Call-ID, CSeq and To; adds ``to_tag`` to To when
    To has no tag and the status is above 100 (callers pass a tag, e.g. from
    :func:`~kamtool.sip.make_branch`-style hashing: no randomness here). A 100 copies
    Timestamp (8.2.6.1). ``copy_record_route`` copies Record-Route for dialog-creating
    1xx/2xx (12.1.1). Extra ``headers`` are appended; Content-Length is set on output.
    """
    src = request.headers
    out = Headers()
    for key, line in zip(src._keys, src._lines, strict=True):
        if key in ("via", "from", "call-id", "cseq") or (
            copy_record_route and key == "record-route"
        ):
            out._keys.append(key)
            out._lines.append(line)
        elif key == "to":
            out._keys.append(key)
            try:
                to = request.to if to_tag is not None and status > 100 else None
            except ParseError:  # answering a malformed request: copy To as it is
                to = None
            if to is not None and to.tag is None:
                # the request's To as it was written, plus the tag (8.2.6.2), as Kamailio does
                value = _line_value(line) + b";tag=" + _encode(to_tag)
                out._lines.append(line[: line.index(b":")] + b": " + value)
            else:
                out._lines.append(line)
        elif key == "timestamp" and status == 100:
            out._keys.append(key)
            out._lines.append(line)
    for name, value in headers:
        out.add(name, value)
    return Response(status, reason, out, body)
