"""SIP, SIPS and tel URIs (RFC 3261 section 19.1, RFC 3966, RFC 5118 IPv6 references).

:func:`parse_uri` returns a :class:`SipURI` (``sip:``/``sips:``), a :class:`TelURI` (``tel:``)
or an :class:`AbsoluteURI` for any other scheme (valid in To/From/Contact, RFC 4475 3.3.4).
URI objects are immutable: use :meth:`SipURI.replace` to derive a changed copy. ``str(uri)``
gives back the exact text that was parsed until something is changed.

Components are stored unescaped (``%41`` becomes ``A``; ``%00`` becomes ``"\\x00"``) and
escaped again when formatted, so RFC 3261 section 19.1.4 comparison (``==``) is
by meaning: scheme and host case-insensitive, user and password case-sensitive, explicit
port differs from no port, ``user``/``ttl``/``method``/``maddr``/``transport`` must match when
either side has them, other parameters only when both have them, headers must all match.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

from . import _abnf
from .errors import ParseError

__all__ = ["URI", "AbsoluteURI", "SipURI", "TelURI", "format_host", "parse_uri"]

_SCHEME_RE = re.compile(rf"({_abnf.scheme}):")
_USER_RE = re.compile(rf"{_abnf.user}\Z")
_PASSWORD_RE = re.compile(rf"{_abnf.password}\Z")
_HOSTPORT_RE = re.compile(
    rf"(?P<host>{_abnf.IPv6reference}|[A-Za-z0-9\-_.]+)(?::(?P<port>\d{{1,5}}))?\Z"
)
_HOSTNAME_RE = re.compile(rf"{_abnf.hostname}\Z")
_URI_PARAM_RE = re.compile(rf"{_abnf.uri_param}\Z")
_URI_HEADER_RE = re.compile(rf"{_abnf.uri_header}\Z")
_ESCAPE_OK_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_TEL_NUMBER_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+\Z")
_OPAQUE_RE = re.compile(r"[^\s<>\"]+\Z")
_VISUAL_SEP = str.maketrans("", "", "-.()")

# characters each component may carry unescaped (everything else is %-escaped on output)
_SAFE_UNRESERVED = "-_.!~*'()"
_SAFE_USER = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + _SAFE_UNRESERVED + "&=+$,;?/"
)
_SAFE_PASSWORD = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + _SAFE_UNRESERVED + "&=+$,"
)
_SAFE_PARAM = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + _SAFE_UNRESERVED + "[]/:&+$"
)
_SAFE_HEADER = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + _SAFE_UNRESERVED + "[]/?:+$"
)

# parameters that must be equal when present in either URI (RFC 3261 19.1.4)
_STRICT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _escape(text: str, safe: frozenset[str]) -> str:
    if all(c in safe for c in text):
        return text
    out = []
    for c in text:
        if c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="surrogateescape")


def format_host(host: str) -> str:
    """Host as it appears in a URI or Via: IPv6 addresses get their brackets."""
    return f"[{host}]" if ":" in host else host


def _canon_host(host: str) -> str:
    """Host for comparison: lower case; IPv6 in its compressed canonical form."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return host.lower()
    return host.lower()


def _check_ipv6(host: str, what: str) -> str:
    """Validate an IPv6 address; tolerate the ``:::`` RFC 3261's ABNF let through (RFC 5118
    section 4.10) by dropping the extra colon."""
    try:
        ipaddress.IPv6Address(host)
        return host
    except ValueError:
        pass
    if ":::" in host:
        fixed = host.replace(":::", "::", 1)
        try:
            ipaddress.IPv6Address(fixed)
            return fixed
        except ValueError:
            pass
    raise ParseError(f"Bad IPv6 reference in {what}")


def _parse_host(hostport: str, what: str) -> tuple[str, int | None]:
    m = _HOSTPORT_RE.match(hostport)
    if m is None:
        raise ParseError(f"Bad host in {what}")
    host = m.group("host")
    if host[0] == "[":
        host = _check_ipv6(host[1:-1], what)
    elif not _HOSTNAME_RE.match(host):
        raise ParseError(f"Bad host in {what}")
    port_s = m.group("port")
    port = None
    if port_s is not None:
        port = int(port_s)
        if port > 65535:
            raise ParseError(f"Bad port in {what}")
    return host, port


def _parse_uri_params(text: str, what: str) -> dict[str, str | None]:
    """``;a=b;c`` (text starts after the first ';') to {lower name: unescaped value}."""
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        if not _URI_PARAM_RE.match(part):
            raise ParseError(f"Bad parameter in {what}")
        name, eq, value = part.partition("=")
        params[_unescape(name).lower()] = _unescape(value) if eq else None
    return params


class SipURI:
    """A ``sip:`` or ``sips:`` URI.

    Attributes (all ``str`` unless said): ``scheme`` ("sip"/"sips", lower case), ``user``
    (unescaped, or None), ``password`` (or None), ``host`` (IPv6 without brackets),
    ``port`` (int or None), ``params`` (dict lower-case name -> unescaped value, None for a
    flag such as ``lr``), ``headers`` (tuple of (name, value) pairs after ``?``).
    """

    __slots__ = ("_raw", "headers", "host", "params", "password", "port", "scheme", "user")

    def __init__(
        self,
        host: str,
        user: str | None = None,
        *,
        scheme: str = "sip",
        password: str | None = None,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        _raw: str | None = None,
    ) -> None:
        if host.startswith("["):
            host = host[1:-1]
        self.scheme = scheme.lower()
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else {}
        self.headers = tuple(headers)
        self._raw = _raw

    # -- derived values ------------------------------------------------------------------
    @property
    def secure(self) -> bool:
        """True for ``sips:``."""
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, or None."""
        t = self.params.get("transport")
        return t.lower() if t else None

    @property
    def lr(self) -> bool:
        """True when the ``lr`` (loose routing) parameter is present."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def host_port(self) -> str:
        """``host[:port]`` with IPv6 brackets, as in a Via sent-by."""
        h = format_host(self.host)
        return h if self.port is None else f"{h}:{self.port}"

    @property
    def aor(self) -> str:
        """Address of record: ``user@host`` (or ``host``), no scheme, port or parameters."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def replace(self, **changes: object) -> SipURI:
        """Copy with some attributes changed (``host=``, ``port=``, ``params=`` ...)."""
        values = {
            "host": self.host,
            "user": self.user,
            "scheme": self.scheme,
            "password": self.password,
            "port": self.port,
            "params": dict(self.params),
            "headers": self.headers,
        }
        values.update(changes)
        return SipURI(**values)  # type: ignore[arg-type]

    def with_params(self, **params: str | None) -> SipURI:
        """Copy with parameters added or replaced (``uri.with_params(lr=None)``)."""
        merged = dict(self.params)
        merged.update({k.lower(): v for k, v in params.items()})
        return self.replace(params=merged)

    def without_params(self, *names: str) -> SipURI:
        """Copy without the named parameters (and without headers if ``"?"`` is named)."""
        drop = {n.lower() for n in names}
        kept = {k: v for k, v in self.params.items() if k not in drop}
        return self.replace(params=kept)

    # -- text ------------------------------------------------------------------------------
    def __str__(self) -> str:
        if self._raw is not None:
            return self._raw
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _SAFE_USER))
            if self.password is not None:
                out.append(":" + _escape(self.password, _SAFE_PASSWORD))
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params.items():
            out.append(";" + _escape(name, _SAFE_PARAM))
            if value is not None:
                out.append("=" + _escape(value, _SAFE_PARAM))
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    _escape(n, _SAFE_HEADER) + "=" + _escape(v, _SAFE_HEADER)
                    for n, v in self.headers
                )
            )
        self._raw = "".join(out)
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"SipURI({str(self)!r})"

    # -- RFC 3261 section 19.1.4 comparison -----------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipURI):
            return NotImplemented
        if (
            self.scheme != other.scheme
            or self.user != other.user
            or self.password != other.password
            or self.port != other.port
            or _canon_host(self.host) != _canon_host(other.host)
        ):
            return False
        p1, p2 = self.params, other.params
        for name in _STRICT_PARAMS:
            if name in p1 or name in p2:
                v1, v2 = p1.get(name), p2.get(name)
                if v1 is None or v2 is None:
                    if v1 is not v2 or (name in p1) != (name in p2):
                        return False
                elif v1.lower() != v2.lower():
                    return False
        for name, v1 in p1.items():
            if name in _STRICT_PARAMS or name not in p2:
                continue
            v2 = p2[name]
            if (v1 is None) != (v2 is None) or (v1 is not None and v1.lower() != v2.lower()):  # type: ignore[union-attr]
                return False
        h1 = {n.lower(): v for n, v in self.headers}
        h2 = {n.lower(): v for n, v in other.headers}
        return h1 == h2

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, _canon_host(self.host), self.port))


class TelURI:
    """A ``tel:`` URI (RFC 3966): ``number`` (with its ``+`` when global) and ``params``."""

    __slots__ = ("_raw", "number", "params")

    def __init__(
        self, number: str, params: dict[str, str | None] | None = None, _raw: str | None = None
    ) -> None:
        self.number = number
        self.params = params if params is not None else {}
        self._raw = _raw

    scheme = "tel"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    def __str__(self) -> str:
        if self._raw is None:
            tail = "".join(
                f";{n}" if v is None else f";{n}={_escape(v, _SAFE_PARAM)}"
                for n, v in self.params.items()
            )
            self._raw = f"tel:{self.number}{tail}"
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"TelURI({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        # RFC 3966 section 4: visual separators do not count, parameters compare by value
        if not isinstance(other, TelURI):
            return NotImplemented
        n1 = self.number.translate(_VISUAL_SEP).lower()
        n2 = other.number.translate(_VISUAL_SEP).lower()
        lower = lambda p: {k: (v.lower() if v else v) for k, v in p.items()}  # noqa: E731
        return n1 == n2 and lower(self.params) == lower(other.params)

    def __hash__(self) -> int:
        return hash(self.number.translate(_VISUAL_SEP).lower())


class AbsoluteURI:
    """Any other scheme, kept opaque: ``scheme`` (lower case) and ``opaque`` (after ':')."""

    __slots__ = ("opaque", "scheme")

    def __init__(self, scheme: str, opaque: str) -> None:
        self.scheme = scheme.lower()
        self.opaque = opaque

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"AbsoluteURI({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteURI):
            return NotImplemented
        return self.scheme == other.scheme and self.opaque == other.opaque

    def __hash__(self) -> int:
        return hash((self.scheme, self.opaque))


URI = SipURI | TelURI | AbsoluteURI


# common case in one match: no escapes, password, URI headers or IPv6
_FAST_SIP_RE = re.compile(
    rf"([Ss][Ii][Pp][Ss]?):(?:([A-Za-z0-9\-_.!~*'()&=+$,;?/]+)@)?({_abnf.hostname})"
    r"(?::(\d{1,5}))?((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]*)?)*)\Z"
)


# Parsed URIs by their text: Request-URIs and contacts repeat from message to message.
# URI objects are never changed in place, so sharing them is safe; bounded (network input).
_URI_CACHE: dict[str, URI] = {}
_URI_CACHE_MAX = 4096


def parse_uri(text: str | bytes, what: str = "URI") -> URI:
    """Parse a URI (no angle brackets). Raises :class:`ParseError` (400) when malformed.

    ``what`` names the place for the error's reason phrase ("Request-URI", "To" ...).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    uri = _URI_CACHE.get(text)
    if uri is None:
        uri = _parse_uri(text, what)
        if len(_URI_CACHE) >= _URI_CACHE_MAX:
            _URI_CACHE.clear()
        _URI_CACHE[text] = uri
    return uri


def _parse_uri(text: str, what: str) -> URI:
    m = _FAST_SIP_RE.match(text)
    if m is not None:
        scheme, user, host, port_s, ptext = m.groups()
        port = None
        if port_s is not None:
            port = int(port_s)
            if port > 65535:
                raise ParseError(f"Bad port in {what}")
        params: dict[str, str | None] = {}
        if ptext:
            for part in ptext[1:].split(";"):
                name, eq, value = part.partition("=")
                params[name.lower()] = value if eq else None
        return SipURI(host, user, scheme=scheme, port=port, params=params, _raw=text)
    m = _SCHEME_RE.match(text)
    if m is None:
        raise ParseError(f"Bad {what}: no scheme")
    scheme = m.group(1).lower()
    rest = text[m.end() :]
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text, scheme, rest, what)
    if scheme == "tel":
        number, _, tail = rest.partition(";")
        if not _TEL_NUMBER_RE.match(number):
            raise ParseError(f"Bad tel number in {what}")
        params = _parse_uri_params(tail, what) if tail else {}
        return TelURI(number, params, _raw=text)
    if not rest or not _OPAQUE_RE.match(rest):
        raise ParseError(f"Bad {what}")
    return AbsoluteURI(scheme, rest)


def _parse_sip(text: str, scheme: str, rest: str, what: str) -> SipURI:
    if _ESCAPE_OK_RE.search(rest):
        raise ParseError(f"Bad escape in {what}")
    user = password = None
    at = rest.rfind("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        u, colon, pw = userinfo.partition(":")
        if not _USER_RE.match(u) or (colon and not _PASSWORD_RE.match(pw)):
            raise ParseError(f"Bad user part in {what}")
        user = _unescape(u)
        if colon:
            password = _unescape(pw)
    rest, qmark, hdrs = rest.partition("?")
    hostport, semi, ptext = rest.partition(";")
    host, port = _parse_host(hostport, what)
    params = _parse_uri_params(ptext, what) if semi else {}
    headers: tuple[tuple[str, str], ...] = ()
    if qmark:
        pairs = []
        for part in hdrs.split("&"):
            if not _URI_HEADER_RE.match(part):
                raise ParseError(f"Bad header part in {what}")
            n, _, v = part.partition("=")
            pairs.append((_unescape(n), _unescape(v)))
        headers = tuple(pairs)
    return SipURI(
        host,
        user,
        scheme=scheme,
        password=password,
        port=port,
        params=params,
        headers=headers,
        _raw=text,
    )
