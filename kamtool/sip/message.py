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
from collections.abc import Iterable

from .errors import LocalProtocolError, ParseError
from .header_fields import (
    _MISSING,
    _P_AUTHORIZATIONS,
    _P_CONTACTS,
    _P_CONTENT_LENGTH,
    _P_EXPIRES,
    _P_FROM,
    _P_MAX_FORWARDS,
    _P_PROXY_AUTHORIZATIONS,
    _P_RECORD_ROUTES,
    _P_ROUTES,
    _P_TO,
    _ROUTING,
    Headers,
    _encode,
    _line_value,
    _p_call_id,
    _p_cseq,
    _p_vias,
)
from .headers import Credentials, CSeq, NameAddr, Via
from .reasons import REASON_PHRASES
from .uri import URI, parse_uri

__all__ = ["REASON_PHRASES", "Headers", "Message", "Request", "Response", "make_response"]

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


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
