"""Header names and the typed values routing needs: Via, name-addr (From/To/Contact/Route),
CSeq and Authorization-style credentials.

Header names: :func:`canonical_name` maps any spelling (``v``, ``VIA``, ``Via``) to one key,
the lower-case full name (``"via"``); :data:`COMPACT_FORMS` is the one compact-form table.
Typed values are immutable; derive changed copies with ``with_param``/``without_param`` and
put them back through the message's mutation methods.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple

from . import _abnf
from .digest import DigestParseError, split_auth
from .errors import ParseError
from .uri import URI, SipURI, _check_ipv6, format_host, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "MAGIC_COOKIE",
    "SINGLETON_HEADERS",
    "CSeq",
    "Credentials",
    "NameAddr",
    "Via",
    "canonical_name",
    "display_name",
    "make_branch",
    "parse_auth",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_params",
    "parse_via",
    "parse_via_list",
    "split_list",
]

#: RFC 3261 section 7.3.3 branch prefix of RFC 3261 transactions.
MAGIC_COOKIE = "z9hG4bK"

#: compact form -> canonical (lower-case full) name. RFC 3261 (i m e l c f s k t v),
#: RFC 3265 (o u), RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 4474 (y n),
#: RFC 3841 (a j d).
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "n": "identity-info",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}

#: Display spelling of well-known headers (used when kamtool adds one).
PRETTY_NAMES: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}

#: Headers whose value is a comma-separated list (RFC 3261 ``#element`` rules) and that
#: may be split into several lines or joined into one. WWW-Authenticate, Authorization,
#: Proxy-Authenticate and Proxy-Authorization are NOT here: their commas separate
#: parameters of one challenge/credential.
LIST_HEADERS = frozenset(
    {
        "via",
        "route",
        "record-route",
        "contact",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "alert-info",
        "call-info",
        "error-info",
        "content-encoding",
        "content-language",
        "in-reply-to",
        "path",
        "service-route",
        "security-client",
        "security-server",
        "security-verify",
        "p-associated-uri",
        "history-info",
        "reason",
        "accept-contact",
        "reject-contact",
        "request-disposition",
    }
)

#: Headers that may appear once at most (RFC 4475 3.3.8/3.3.9: several -> 400).
SINGLETON_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"}
)

_name_cache: dict[bytes, str] = {}
_str_name_cache: dict[str, str] = {}  # the names code asks for ("Via", "user-agent" ...)
_TOKEN_RE = re.compile(rf"{_abnf.token}\Z")


def canonical_name(name: str | bytes) -> str:
    """Lookup key of a header name: compact forms expanded, lower case (``b"v"`` -> ``"via"``)."""
    if isinstance(name, bytes):
        key = _name_cache.get(name)
        if key is not None:
            return key
        text = name.decode("latin-1").strip().lower()
        key = COMPACT_FORMS.get(text, text)
        if len(_name_cache) < 4096:  # bounded: header names come from the network
            _name_cache[name] = key
        return key
    key = _str_name_cache.get(name)
    if key is None:
        text = name.strip().lower()
        key = COMPACT_FORMS.get(text, text)
        if len(_str_name_cache) < 4096:
            _str_name_cache[name] = key
    return key


def display_name(key: str) -> str:
    """Conventional spelling of a canonical name (``"call-id"`` -> ``"Call-ID"``)."""
    pretty = PRETTY_NAMES.get(key)
    if pretty is not None:
        return pretty
    return "-".join(p[:1].upper() + p[1:] for p in key.split("-"))


for _short in COMPACT_FORMS:
    for _v in (_short, _short.upper()):
        _name_cache[_v.encode()] = COMPACT_FORMS[_short]
for _full in list(COMPACT_FORMS.values()) + ["cseq", "max-forwards", "route", "record-route"]:
    for _v in (_full, display_name(_full), _full.upper()):
        _name_cache[_v.encode()] = _full


# --- lists and parameters ---------------------------------------------------------------
_LIST_ITEM_RE = re.compile(r'(?:"(?:[^"\\]|\\.)*"|<[^>]*>|[^,"<])+')
_UNSAFE_CHARS = re.compile(r'["<]')


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quoted strings and ``<...>``.

    Empty elements (``a,,b``) are dropped as RFC 3261 section 7.3.1 allows. Raises
    :class:`ParseError` on an unterminated quote or angle bracket.
    """
    if not _UNSAFE_CHARS.search(value):
        return [p for p in (s.strip() for s in value.split(",")) if p]
    items = []
    pos = 0
    n = len(value)
    while pos < n:
        m = _LIST_ITEM_RE.match(value, pos)
        if m is None:
            if value[pos] == ",":
                pos += 1
                continue
            raise ParseError("Unbalanced quote or angle bracket")
        item = m.group().strip()
        if item:
            items.append(item)
        pos = m.end()
        if pos < n:
            if value[pos] != ",":
                raise ParseError("Unbalanced quote or angle bracket")
            pos += 1
    return items


_PARAM_RE = re.compile(
    rf"{_abnf.SWS};{_abnf.SWS}({_abnf.token})(?:{_abnf.SWS}={_abnf.SWS}({_abnf.gen_value}))?{_abnf.SWS}"
)


_PARAMS_FULL_RE = re.compile(f"(?:{_PARAM_RE.pattern})*")


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` header parameters to {lower name: value or None}.

    Quoted values keep their quotes (so they can be written back unchanged); use
    :func:`unquote` to read them.
    """
    if _PARAMS_FULL_RE.fullmatch(text) is not None:
        # one C-level validation, one C-level capture; gen-value is never empty, so ""
        # means "no value"
        return {n.lower(): (v if v else None) for n, v in _PARAM_RE.findall(text)}
    params: dict[str, str | None] = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            raise ParseError(f"Bad parameter in {what}")
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def unquote(value: str) -> str:
    """Remove the quotes of a quoted-string and resolve its quoted-pairs."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" in inner:
            inner = re.sub(r"\\(.)", r"\1", inner, flags=re.S)
        return inner
    return value


_NEEDS_QUOTED_PAIR = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote(value: str) -> str:
    """Make a quoted-string: ``"``, ``\\`` and control characters become quoted-pairs.

    CR and LF cannot be carried (the header would break): adding such a value to a
    message raises :class:`~kamtool.sip.LocalProtocolError`.
    """
    return '"' + _NEEDS_QUOTED_PAIR.sub(lambda m: "\\" + m.group(), value) + '"'


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# --- Via ---------------------------------------------------------------------------------
_VIA_RE = re.compile(
    rf"({_abnf.token}){_abnf.SWS}/{_abnf.SWS}({_abnf.token}){_abnf.SWS}/{_abnf.SWS}({_abnf.token})"
    rf"{_abnf.LWS}({_abnf.IPv6reference}|{_abnf.hostname})(?:{_abnf.SWS}:{_abnf.SWS}(\d{{1,5}}))?"
    r"(.*)\Z",
    re.S,
)


class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport``.

    Attributes: ``transport`` (upper case, "UDP"/"TCP"/"TLS"/"SCTP"/"WS" ...), ``protocol``
    ("SIP/2.0"), ``host`` (IPv6 without brackets), ``port`` (int or None), ``params``
    (dict lower name -> value or None). Properties give ``branch``, ``received``,
    ``rport``, ``maddr``, ``ttl``.
    """

    __slots__ = ("_raw", "host", "params", "port", "protocol", "transport")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        *,
        protocol: str = "SIP/2.0",
        _raw: str | None = None,
    ) -> None:
        if host.startswith("["):
            host = host[1:-1]
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self.params = params if params is not None else {}
        self.protocol = protocol
        self._raw = _raw

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        r = self.params.get("received")
        if r and r.startswith("["):
            r = r[1:-1]
        return r

    @property
    def has_rport(self) -> bool:
        """True when ``rport`` is present, with or without a value (RFC 3581)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The rport value, None when absent or empty (request-side ``;rport``)."""
        v = self.params.get("rport")
        return int(v) if v and v.isdigit() else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        v = self.params.get("ttl")
        return int(v) if v and v.isdigit() else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """(host, port) as the sender wrote them."""
        return self.host, self.port

    @property
    def is_rfc3261(self) -> bool:
        """True when the branch starts with the magic cookie (else use RFC 2543 matching)."""
        b = self.params.get("branch")
        return b is not None and b.startswith(MAGIC_COOKIE)

    def response_address(self, default_port: int = 5060) -> tuple[str, int]:
        """Where responses go (RFC 3261 18.2.2 + RFC 3581): maddr, received, rport, sent-by."""
        host = self.maddr or self.received or self.host
        port = self.rport or self.port or default_port
        return host, port

    def with_params(self, **params: str | int | None) -> Via:
        """Copy with parameters set (``via.with_params(received="192.0.2.1", rport=5060)``)."""
        merged = dict(self.params)
        for k, v in params.items():
            merged[k.lower()] = None if v is None else str(v)
        return Via(self.transport, self.host, self.port, merged, protocol=self.protocol)

    def without_params(self, *names: str) -> Via:
        drop = {n.lower() for n in names}
        kept = {k: v for k, v in self.params.items() if k not in drop}
        return Via(self.transport, self.host, self.port, kept, protocol=self.protocol)

    def __str__(self) -> str:
        if self._raw is None:
            hp = format_host(self.host)
            if self.port is not None:
                hp = f"{hp}:{self.port}"
            self._raw = f"{self.protocol}/{self.transport} {hp}{_format_params(self.params)}"
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (
            self.transport == other.transport
            and self.host.lower() == other.host.lower()
            and self.port == other.port
            and self.protocol.upper() == other.protocol.upper()
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]


# the usual Via in one match: SIP/2.0, a host name or IPv4 address, token parameters, no
# blanks; anything else (IPv6, quoted or host-valued parameters, LWS) takes _VIA_RE
_FAST_VIA_RE = re.compile(
    rf"SIP/2\.0/({_abnf.token}) ({_abnf.hostname})(?::(\d{{1,5}}))?"
    rf"((?:;{_abnf.token}(?:={_abnf.token})?)*)\Z"
)


def parse_via(value: str) -> Via:
    """Parse one Via value (no commas). Raises :class:`ParseError`."""
    m = _FAST_VIA_RE.match(value)
    fast = m is not None
    if fast:
        name, version = "SIP", "2.0"
        transport, host, port_s, ptext = m.groups()
    else:
        m = _VIA_RE.match(value)
        if m is None:
            raise ParseError("Bad Via header")
        name, version, transport, host, port_s, ptext = m.groups()
        if host[0] == "[":
            host = _check_ipv6(host[1:-1], "Via")
    port = None
    if port_s is not None:
        port = int(port_s)
        if port > 65535:
            raise ParseError("Bad Via port")
    params: dict[str, str | None] = {}
    if fast:
        if ptext:
            for part in ptext[1:].split(";"):
                pname, eq, pvalue = part.partition("=")
                params[pname.lower()] = pvalue if eq else None
    elif ptext.strip():
        params = parse_params(ptext, "Via")
    if '"' in ptext:  # quoted strings are for extension parameters only
        for key in ("branch", "received", "maddr", "ttl", "rport"):
            v = params.get(key, "")
            if v is not None and v.startswith('"'):
                raise ParseError(f"Bad Via {key}")
    ttl = params.get("ttl")
    rport = params.get("rport")
    if (ttl is not None and not (ttl.isdigit() and int(ttl) <= 255)) or (
        rport is not None and not (rport.isdigit() and int(rport) <= 65535)
    ):
        raise ParseError("Bad Via ttl/rport")
    if "branch" in params and params["branch"] is None:
        raise ParseError("Bad Via branch")
    return Via(
        transport,
        host,
        port,
        params,
        protocol=f"{name}/{version}",
        _raw=value,
    )


def parse_via_list(value: str) -> list[Via]:
    """Parse a Via header value that may hold several comma-separated Vias."""
    if "," not in value:
        return [parse_via(value.strip())]
    return [parse_via(v) for v in split_list(value)]


def make_branch(*parts: str | bytes | int, secret: bytes = b"") -> str:
    """Deterministic RFC 3261 branch: magic cookie + hash of ``parts`` (and a secret).

    Sans-IO: no hidden randomness. Pass fields that identify the transaction (as
    Kamailio's stateless branch does: incoming top branch, Call-ID, CSeq, R-URI ...) or
    a random seed drawn by the caller.
    """
    h = hashlib.blake2s(digest_size=12)
    if secret:
        h.update(secret)
        h.update(b"\x00")
    for p in parts:
        if isinstance(p, str):
            p = p.encode("utf-8", "surrogateescape")
        elif isinstance(p, int):
            p = str(p).encode()
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return MAGIC_COOKIE + h.hexdigest()


# --- name-addr / addr-spec ----------------------------------------------------------------
# unquoted display names: tokens, leniently widened to non-ASCII letters (phones send
# ``From: Jürgen <sip:...>``); commas and other separators stay refused (RFC 4475 3.1.2.14)
_dn_token = rf"[{_abnf.token_char}\x80-\U0010ffff]+"
_NAME_ADDR_RE = re.compile(
    rf"{_abnf.SWS}(?:({_abnf.quoted_string})|({_dn_token}(?:{_abnf.LWS}{_dn_token})*))?"
    rf"{_abnf.SWS}<([^<>\s\"]*)>(.*)\Z",
    re.S,
)
# addr-spec without <>: no ';' (those are header params), no ',', '?' or whitespace
_ADDR_SPEC_RE = re.compile(r"[ \t]*([^\s;,?<>\"]+)(.*)\Z", re.S)


class NameAddr:
    """An address with optional display name and header parameters (From, To, Contact,
    Route, Record-Route ...).

    Attributes: ``uri`` (SipURI/TelURI/AbsoluteURI, or None for the Contact ``*``),
    ``display_name`` (unquoted text or None), ``params`` (dict lower name -> value; quoted
    values keep their quotes). Properties: ``tag``, ``expires``, ``q``, ``is_star``.
    """

    __slots__ = ("_raw", "display_name", "params", "uri")

    def __init__(
        self,
        uri: URI | str | None,
        display_name: str | None = None,
        params: dict[str, str | None] | None = None,
        *,
        _raw: str | None = None,
    ) -> None:
        if isinstance(uri, str):
            uri = parse_uri(uri)
        self.uri = uri
        self.display_name = display_name
        self.params = params if params is not None else {}
        self._raw = _raw

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def is_star(self) -> bool:
        """True for ``Contact: *`` (REGISTER remove-all)."""
        return self.uri is None

    @property
    def expires(self) -> int | None:
        """Contact ``expires`` parameter (clamped to 2**32-1), or None."""
        v = self.params.get("expires")
        if v is None or not v.isdigit():
            return None
        return min(int(v), 2**32 - 1)

    @property
    def q(self) -> float | None:
        """Contact ``q`` parameter as a float, or None."""
        v = self.params.get("q")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    @property
    def sip_uri(self) -> SipURI | None:
        """The URI when it is a sip/sips one, else None."""
        return self.uri if isinstance(self.uri, SipURI) else None

    def with_params(self, **params: str | int | None) -> NameAddr:
        """Copy with parameters set (``to.with_params(tag="abc")``)."""
        merged = dict(self.params)
        for k, v in params.items():
            merged[k.lower()] = None if v is None else str(v)
        return NameAddr(self.uri, self.display_name, merged)

    def without_params(self, *names: str) -> NameAddr:
        drop = {n.lower() for n in names}
        return NameAddr(
            self.uri, self.display_name, {k: v for k, v in self.params.items() if k not in drop}
        )

    def __str__(self) -> str:
        if self._raw is None:
            if self.uri is None:
                self._raw = "*" + _format_params(self.params)
            else:
                dn = ""
                if self.display_name is not None:
                    dn = quote(self.display_name) + " "
                self._raw = f"{dn}<{self.uri}>{_format_params(self.params)}"
        return self._raw

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (
            self.uri == other.uri
            and self.display_name == other.display_name
            and self.params == other.params
        )

    __hash__ = None  # type: ignore[assignment]


_BARE_NAME_ADDR_RE = re.compile(r"[ \t]*<([^<>\s\"]*)>(.*)\Z", re.S)


# Parsed name-addrs by their text: the same From/To/Contact/Route values come again and
# again (a phone's AoR, its contact, our own Record-Route). NameAddr and URI objects are
# never changed in place, so sharing them is safe. Bounded: the text comes from the network.
_NAME_ADDR_CACHE: dict[str, NameAddr] = {}
_CACHE_MAX = 4096


def parse_name_addr(value: str, what: str = "address", allow_star: bool = False) -> NameAddr:
    """Parse ``"Name" <uri>;params``, ``Name <uri>``, ``uri;params`` (or ``*`` if allowed)."""
    na = _NAME_ADDR_CACHE.get(value)
    if na is None:
        na = _parse_name_addr(value, what, allow_star)
        if na.uri is not None:  # "*" depends on allow_star: never cached
            if len(_NAME_ADDR_CACHE) >= _CACHE_MAX:
                _NAME_ADDR_CACHE.clear()
            _NAME_ADDR_CACHE[value] = na
    return na


def _parse_name_addr(value: str, what: str, allow_star: bool) -> NameAddr:
    m = _BARE_NAME_ADDR_RE.match(value)
    if m is not None:  # the common "<uri>;params" without display name
        uri_text, ptext = m.groups()
        params = parse_params(ptext.rstrip(), what) if ptext.strip() else {}
        return NameAddr(parse_uri(uri_text, what), None, params, _raw=value.strip())
    m = _NAME_ADDR_RE.match(value)
    if m is not None:
        quoted, tokens, uri_text, ptext = m.groups()
        if quoted is not None:
            dn: str | None = unquote(quoted)
        elif tokens is not None:
            dn = tokens
        else:
            dn = None
        uri = parse_uri(uri_text, what)
    else:
        stripped = value.strip()
        if allow_star and stripped[:1] == "*":
            ptext = stripped[1:]
            params = parse_params(ptext, what) if ptext.strip() else {}
            return NameAddr(None, None, params, _raw=stripped)
        m = _ADDR_SPEC_RE.match(value)
        if m is None or "<" in value or '"' in value:
            raise ParseError(f"Bad {what} header")
        uri_text, ptext = m.groups()
        dn = None
        uri = parse_uri(uri_text, what)
    params = parse_params(ptext.rstrip(), what) if ptext.strip() else {}
    return NameAddr(uri, dn, params, _raw=value.strip())


def parse_name_addr_list(value: str, what: str, allow_star: bool = False) -> list[NameAddr]:
    """Parse a comma-separated list of name-addrs (Contact, Route, Record-Route)."""
    if "," not in value:
        return [parse_name_addr(value, what, allow_star)]
    return [parse_name_addr(v, what, allow_star) for v in split_list(value)]


# --- CSeq ---------------------------------------------------------------------------------
class CSeq(NamedTuple):
    """CSeq value: sequence number and method (``CSeq(1, "INVITE")``)."""

    num: int
    method: str

    def __str__(self) -> str:
        return f"{self.num} {self.method}"


_CSEQ_RE = re.compile(rf"[ \t]*(\d{{1,10}})[ \t]+({_abnf.token})[ \t]*\Z")


_CSEQ_CACHE: dict[str, CSeq] = {}  # "1 INVITE", "2 REGISTER" ... (CSeq is immutable)


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; the number must be below 2**31 (RFC 3261 section 8.1.1.5)."""
    cseq = _CSEQ_CACHE.get(value)
    if cseq is not None:
        return cseq
    m = _CSEQ_RE.match(value)
    if m is None:
        raise ParseError("Bad CSeq header")
    num = int(m.group(1))
    if num >= 2**31:
        raise ParseError("CSeq number too large")
    cseq = CSeq(num, m.group(2))
    if len(_CSEQ_CACHE) >= _CACHE_MAX:
        _CSEQ_CACHE.clear()
    _CSEQ_CACHE[value] = cseq
    return cseq


# --- Authorization / WWW-Authenticate -------------------------------------------------------
class Credentials(NamedTuple):
    """Authorization/Proxy-Authorization credentials or a WWW/Proxy-Authenticate challenge.

    ``scheme`` as sent ("Digest"), ``params`` lower-case name -> unquoted value, ``raw`` the
    header value. Unknown schemes with opaque data keep ``params`` empty (RFC 4475 3.3.7).
    For the checks authentication needs, see :func:`kamtool.sip.digest.parse_credentials`.
    """

    scheme: str
    params: dict[str, str]
    raw: str

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)


def parse_auth(value: str) -> Credentials:
    """Parse ``Digest username="a", realm="b", ...`` (commas separate params, not values)."""
    try:
        scheme, pairs = split_auth(value)
    except DigestParseError:
        raise ParseError("Bad authorization header") from None
    if pairs is None and scheme.lower() == "digest":
        raise ParseError("Bad Digest parameters")
    return Credentials(scheme, dict(pairs or ()), value.strip())
