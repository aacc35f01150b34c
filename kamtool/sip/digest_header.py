"""Digest authentication header syntax: the auth-params of WWW-/Proxy-Authenticate
(:class:`Challenge`) and Authorization/Proxy-Authorization (:class:`Credentials`), their
parsers, and the choice among several challenges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._abnf import token
from .ha1 import DigestParseError
from .ha1 import canon_algorithm as _canon_algorithm

__all__ = [
    "Challenge",
    "Credentials",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
    "split_auth",
]

# auth-param = token "=" ( token / quoted-string ), separated by commas with optional LWS.
# (the quoted-string written as an unrolled loop: the same strings, twice as fast in re)
_PARAM_RE = re.compile(
    rf'\s*({token})\s*=\s*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s,"]+))\s*(?:,|\Z)', re.S
)
_SCHEME_RE = re.compile(rf"\s*({token})(?:\s+|\Z)")
_UNESCAPE_RE = re.compile(r"\\(.)", re.S)
_PARAM_LIST_RE = re.compile(f"(?:{_PARAM_RE.pattern})*", re.S)


def split_auth(value: str | bytes) -> tuple[str, list[tuple[str, str]] | None]:
    """Split an Authorization / WWW-Authenticate value (or a Proxy- one) into the scheme as
    sent and its auth-params, ``(lower-case name, unquoted value)`` pairs in order.

    The pairs are None when what follows the scheme is not a list of auth-params (the
    token68 data of ``Basic``, or a malformed Digest value). Raises DigestParseError when
    the value does not start with a scheme token.
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    m = _SCHEME_RE.match(value)
    if not m:
        raise DigestParseError("no authentication scheme")
    pos, end = m.end(), len(value.rstrip())
    if pos >= end:
        return m.group(1), []
    # one C-level check of the whole list, then one C-level capture of its items
    if _PARAM_LIST_RE.fullmatch(value, pos, end) is None:
        return m.group(1), None
    return m.group(1), [
        (name.lower(), token or (_UNESCAPE_RE.sub(r"\1", quoted) if "\\" in quoted else quoted))
        for name, quoted, token in _PARAM_RE.findall(value, pos, end)
    ]


def _parse_params(value: str | bytes, what: str) -> dict[str, str]:
    """The parameters of a Digest value; a repeated parameter is an error."""
    try:
        scheme, pairs = split_auth(value)
    except DigestParseError:
        scheme, pairs = "", None
    if scheme.lower() != "digest":
        raise DigestParseError(f"{what}: not a Digest value")
    if pairs is None:
        raise DigestParseError(f"{what}: malformed parameters")
    params: dict[str, str] = {}
    for name, val in pairs:
        if name in params:
            raise DigestParseError(f"{what}: duplicate parameter {name!r}")
        params[name] = val
    return params


def _quote(s: str) -> str:
    if any(c in s for c in "\r\n\0"):
        raise ValueError("CR, LF and NUL cannot appear in a quoted-string")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Challenge:
    """A Digest challenge (WWW-Authenticate on 401, Proxy-Authenticate on 407)."""

    realm: str
    nonce: str
    algorithm: str | None = None  # None: not sent (Kamailio's default), means MD5
    qop: tuple[str, ...] = ()  # () : no qop offered (RFC 2069 style answer expected)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def to_header(self) -> str:
        """Header value, e.g. ``Digest realm="127.0.0.1", nonce="..."`` as Kamailio writes it."""
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.domain is not None:
            parts.append(f"domain={_quote(self.domain)}")
        if self.stale:
            parts.append("stale=true")
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={_quote(','.join(self.qop))}")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str | bytes) -> Challenge:
    """Parse one WWW-Authenticate / Proxy-Authenticate header value."""
    p = _parse_params(value, "challenge")
    if "realm" not in p or "nonce" not in p:
        raise DigestParseError("challenge: realm and nonce are required")
    algorithm = p.pop("algorithm", None)
    qop = tuple(q.strip() for q in p.pop("qop", "").split(",") if q.strip())
    return Challenge(
        realm=p.pop("realm"),
        nonce=p.pop("nonce"),
        algorithm=algorithm,
        qop=qop,
        opaque=p.pop("opaque", None),
        stale=p.pop("stale", "false").lower() == "true",
        domain=p.pop("domain", None),
        extra=p,
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """Digest credentials (Authorization / Proxy-Authorization)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    qop: str | None = None
    nc: str | None = None  # 8 hex digits as sent
    cnonce: str | None = None
    opaque: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def to_header(self) -> str:
        """Header value in the usual order (username, realm, nonce, uri, response, ...)."""
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
        ]
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return "Digest " + ", ".join(parts)


_NC_RE = re.compile(r"[0-9A-Fa-f]{8}\Z")


def parse_credentials(value: str | bytes) -> Credentials:
    """Parse one Authorization / Proxy-Authorization header value.

    Raises DigestParseError when a required parameter is missing, when ``qop`` is given without
    ``nc``/``cnonce`` (RFC 2617 §3.2.2) or when ``nc`` is not 8 hex digits.
    """
    p = _parse_params(value, "credentials")
    missing = [k for k in ("username", "realm", "nonce", "uri", "response") if k not in p]
    if missing:
        raise DigestParseError(f"credentials: missing {', '.join(missing)}")
    qop = p.pop("qop", None)
    nc, cnonce = p.pop("nc", None), p.pop("cnonce", None)
    if qop is not None and (nc is None or cnonce is None):
        raise DigestParseError("credentials: qop requires nc and cnonce")
    if nc is not None and not _NC_RE.match(nc):
        raise DigestParseError("credentials: nc must be 8 hex digits")
    return Credentials(
        username=p.pop("username"),
        realm=p.pop("realm"),
        nonce=p.pop("nonce"),
        uri=p.pop("uri"),
        response=p.pop("response"),
        algorithm=p.pop("algorithm", None),
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        opaque=p.pop("opaque", None),
        extra=p,
    )


def select_challenge(values) -> Challenge | None:
    """Client side, RFC 8760 section 2.4: of several WWW-/Proxy-Authenticate values (in
    header order, most preferred first) the first well-formed Digest challenge whose
    algorithm and qop this module supports; None when there is none."""
    for value in values:
        try:
            challenge = parse_challenge(value)
            _canon_algorithm(challenge.algorithm)
        except DigestParseError:
            continue
        if not challenge.qop or {"auth", "auth-int"} & set(challenge.qop):
            return challenge
    return None
