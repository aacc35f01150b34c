"""SIP digest authentication (RFC 2617, RFC 7616 algorithms as profiled for SIP by RFC 8760).

Pure functions and small caller-owned objects: no clock reads (``now`` comes in), no hidden
randomness (nonce salt and cnonce come in as arguments).

What Kamailio 5.6 does, and what this module reproduces (reference README section 6):

* the challenge is ``Digest realm="<realm>", nonce="<32 base64 chars>"`` with no qop, no
  algorithm and no opaque (``auth_challenge(..., "0")``); the client then answers without
  ``qop``/``nc``/``cnonce`` (RFC 2069 style response);
* HA1 with ``calculate_ha1=yes`` is computed over the username *exactly as the client sent it*
  (so sipsak's ``username="1002@"`` hashes the literal ``1002@``); with ``calculate_ha1=no`` the
  stored ``ha1b`` column is used when the username contains ``@``, ``ha1`` otherwise;
* the ``uri`` parameter is not compared with the Request-URI (sipp sends ``uri="sip:host:port"``
  for a Request-URI ``sip:1002@host:port`` and Kamailio accepts it).

Server-side flow (see ``verify``)::

    creds = parse_credentials(authorization_header_value)
    user, domain = lookup_key(creds.username, realm)          # subscriber row to load
    secret = select_ha1(creds.username, realm, password=row.password, calculate_ha1=True)
    result = verify(creds, method, realm=realm, ha1_hex=secret, signer=signer, now=now,
                    nonce_counts=tracker)
    if result.status is AuthStatus.OK: ...
    else: reply 401/407 with make_challenge(realm, signer.issue(now, salt), stale=result.stale)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from ._abnf import token
from .ha1 import ALGORITHMS, DigestParseError, ha1, ha1b
from .ha1 import HASHES as _HASHES
from .ha1 import canon_algorithm as _canon_algorithm
from .ha1 import hasher as _hasher

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "AuthStatus",
    "Challenge",
    "Credentials",
    "DigestParseError",
    "NonceCountTracker",
    "NonceSigner",
    "NonceState",
    "answer_challenge",
    "compute_response",
    "ha1",
    "ha1b",
    "lookup_key",
    "make_challenge",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
    "select_ha1",
    "verify",
]


# --------------------------------------------------------------------------- HA1 helpers
# In kamtool.sip.ha1, so that writing a subscriber row does not import this module.


def lookup_key(username: str, realm: str) -> tuple[str, str]:
    """(user, domain) of the subscriber row for a credentials ``username`` (use_domain=1).

    The domain is the part after ``@`` when there is one and it is not empty, else the realm:
    ``"1001@example.com"`` -> ``("1001", "example.com")``;
    sipsak's ``"1002@"`` -> ``("1002", realm)``.
    """
    user, at, domain = username.partition("@")
    return user, (domain if at and domain else realm)


def select_ha1(
    username: str,
    realm: str,
    *,
    calculate_ha1: bool,
    password: str | None = None,
    stored_ha1: str | None = None,
    stored_ha1b: str | None = None,
    algorithm: str = "MD5",
) -> str | None:
    """The HA1 Kamailio's auth_db would check against, or None when the row cannot provide it.

    ``calculate_ha1=True``: hash the plain ``password`` over the username exactly as received.
    ``calculate_ha1=False``: ``stored_ha1b`` when the username contains ``@``, else ``stored_ha1``
    (hex digests are compared case-insensitively, so they are lower-cased here).
    An algorithm this module does not support also gives None (verify() then answers
    UNSUPPORTED), so a client's ``algorithm=`` value can be passed in unchecked.
    """
    if calculate_ha1:
        if password is None:
            return None
        try:
            return ha1(username, realm, password, algorithm)
        except DigestParseError:
            return None
    stored = stored_ha1b if "@" in username else stored_ha1
    return stored.lower() if stored else None


# --------------------------------------------------------------------------- header syntax

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


# --------------------------------------------------------------------------- response


def compute_response(
    ha1_hex: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str | None = None,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """request-digest of RFC 2617 §3.2.2.1 (RFC 7616 §3.4.1 for the SHA algorithms).

    ``ha1_hex`` is H(user:realm:password); for ``-sess`` algorithms the session HA1
    H(HA1:nonce:cnonce) is derived here. ``qop=None`` gives the RFC 2069 form
    H(HA1:nonce:HA2) that Kamailio's no-qop challenge asks for.
    """
    alg = _canon_algorithm(algorithm)
    h = _hasher(alg)
    a1 = ha1_hex.lower()
    if alg.endswith("-sess"):
        if cnonce is None:
            raise ValueError("-sess algorithms need a cnonce")
        a1 = h(f"{a1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        name = _HASHES[alg.removesuffix("-sess")]
        ha2 = h(f"{method}:{uri}:{hashlib.new(name, body).hexdigest()}")
    elif qop in (None, "auth"):
        ha2 = h(f"{method}:{uri}")
    else:
        raise ValueError(f"unsupported qop {qop!r}")
    if qop is None:
        return h(f"{a1}:{nonce}:{ha2}")
    if nc is None or cnonce is None:
        raise ValueError("qop requires nc and cnonce")
    return h(f"{a1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def answer_challenge(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str | None = None,
    ha1_hex: str | None = None,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Client side: the credentials answering ``challenge`` (give ``password`` or ``ha1_hex``).

    Uses qop=auth when offered (then ``cnonce`` is required: the caller supplies the
    randomness), otherwise the no-qop form Kamailio's default challenge expects.
    """
    if ha1_hex is None:
        if password is None:
            raise ValueError("password or ha1_hex is required")
        ha1_hex = ha1(username, challenge.realm, password, challenge.algorithm or "MD5")
    qop = None
    if challenge.qop:
        qop = "auth" if "auth" in challenge.qop else challenge.qop[0]
    needs_cnonce = qop is not None or _canon_algorithm(challenge.algorithm).endswith("-sess")
    if needs_cnonce and cnonce is None:
        raise ValueError("this challenge needs a cnonce")
    nc_text = f"{nc:08x}" if qop is not None else None
    response = compute_response(
        ha1_hex,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce if needs_cnonce else None,
        opaque=challenge.opaque,
    )


# --------------------------------------------------------------------------- nonces


class NonceState(Enum):
    VALID = "valid"
    STALE = "stale"  # correctly signed but expired: answer with stale=true
    INVALID = "invalid"  # not ours (bad base64, length, signature or realm)


# nonce = base64( expires:u32 BE | salt:4 bytes | HMAC-SHA256(secret, expires|salt|realm)[:16] )
# 24 bytes -> 32 base64 characters, the same length as Kamailio's nonces.
_NONCE_HEAD = struct.Struct(">I4s")
_MAC_LEN = 16
_NONCE_LEN = _NONCE_HEAD.size + _MAC_LEN


@dataclass(frozen=True, slots=True)
class NonceSigner:
    """Issues and checks self-contained nonces: expiry and salt, HMAC-signed with ``secret``.

    No server-side state is needed to check a nonce; binding the realm into the MAC makes a
    nonce issued for one realm useless in another.
    """

    secret: bytes
    lifetime: float = 300.0  # Kamailio auth nonce_expire default

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValueError("nonce secret must be at least 16 bytes")

    def _mac(self, head: bytes, realm: str) -> bytes:
        return hmac.digest(self.secret, head + realm.encode("utf-8"), "sha256")[:_MAC_LEN]

    def issue(self, realm: str, now: float, salt: bytes) -> str:
        """A new nonce for ``realm`` valid until ``now + lifetime``; ``salt``: 4 random bytes."""
        if len(salt) != 4:
            raise ValueError("salt must be 4 bytes")
        head = _NONCE_HEAD.pack(int(now + self.lifetime) & 0xFFFFFFFF, salt)
        return base64.b64encode(head + self._mac(head, realm)).decode("ascii")

    def expires(self, nonce: str) -> int | None:
        """The expiry carried by ``nonce`` (unauthenticated; check() first)."""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return None
        return _NONCE_HEAD.unpack_from(raw)[0] if len(raw) == _NONCE_LEN else None

    def check(self, nonce: str, realm: str, now: float) -> NonceState:
        """VALID, STALE (signed by us but expired) or INVALID."""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return NonceState.INVALID
        if len(raw) != _NONCE_LEN:
            return NonceState.INVALID
        head, mac = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if not hmac.compare_digest(mac, self._mac(head, realm)):
            return NonceState.INVALID
        (expires, _salt) = _NONCE_HEAD.unpack(head)
        return NonceState.VALID if now < expires else NonceState.STALE


class NonceCountTracker:
    """Bounded nonce-count replay protection (RFC 7616 §3.4.5), owned by the caller.

    Per nonce it keeps the highest nc seen and a 64-entry bitmap below it, so requests
    that overtake each other (nc 3 before nc 2) are accepted once each, like an IPsec
    anti-replay window. At most ``max_nonces`` nonces are remembered (LRU); to stay safe
    after forgetting one, nonces expiring no later than the latest evicted one are refused
    as stale, which makes the client fetch a fresh nonce.
    """

    WINDOW = 64

    __slots__ = ("_floor", "_seen", "max_nonces")

    def __init__(self, max_nonces: int = 10_000) -> None:
        self.max_nonces = max_nonces
        self._seen: OrderedDict[str, list[int]] = OrderedDict()  # nonce -> [max_nc, bitmap, exp]
        self._floor = -1

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, nonce: str, nc: int, expires: int) -> NonceState:
        """Record ``nc`` for ``nonce``: VALID first time, INVALID on replay, STALE if forgotten."""
        if nc < 1:
            return NonceState.INVALID
        entry = self._seen.get(nonce)
        if entry is None:
            if expires <= self._floor:
                return NonceState.STALE
            self._seen[nonce] = [nc, 1, expires]
            while len(self._seen) > self.max_nonces:
                _, old = self._seen.popitem(last=False)
                self._floor = max(self._floor, old[2])
            return NonceState.VALID
        self._seen.move_to_end(nonce)
        top, bits = entry[0], entry[1]
        if nc > top:
            shift = nc - top
            entry[0] = nc
            entry[1] = (
                ((bits << shift) | 1) & ((1 << self.WINDOW) - 1) if shift < self.WINDOW else 1
            )
            return NonceState.VALID
        back = top - nc
        if back >= self.WINDOW or bits >> back & 1:
            return NonceState.INVALID
        entry[1] = bits | (1 << back)
        return NonceState.VALID

    def prune(self, now: float) -> None:
        """Forget nonces that have expired (they fail the signer's check anyway)."""
        for nonce in [n for n, e in self._seen.items() if e[2] <= now]:
            del self._seen[nonce]


# --------------------------------------------------------------------------- verification


class AuthStatus(Enum):
    OK = "ok"
    STALE_NONCE = "stale_nonce"  # right password, expired nonce: challenge again with stale=true
    INVALID_NONCE = "invalid_nonce"  # not our nonce, or for another realm
    REPLAY = "replay"  # nonce count already used
    BAD_RESPONSE = "bad_response"  # wrong password / HA1
    REALM_MISMATCH = "realm_mismatch"
    UNSUPPORTED = "unsupported"  # unknown algorithm or qop
    NO_HA1 = "no_ha1"  # no credentials stored for this user


@dataclass(frozen=True, slots=True)
class AuthResult:
    status: AuthStatus

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK

    @property
    def stale(self) -> bool:
        """Whether the new challenge should say stale=true."""
        return self.status is AuthStatus.STALE_NONCE


_RESULTS = {s: AuthResult(s) for s in AuthStatus}


def verify(
    creds: Credentials,
    method: str,
    *,
    realm: str,
    ha1_hex: str | None,
    signer: NonceSigner,
    now: float,
    nonce_counts: NonceCountTracker | None = None,
    body: bytes = b"",
    single_use_without_qop: bool = False,
) -> AuthResult:
    """Check ``creds`` for a request of ``method``; ``ha1_hex`` from select_ha1() for the
    algorithm the credentials name (HA1 differs per hash algorithm).

    Order: realm, nonce signature, algorithm/qop, response (constant-time compare), then
    expiry (stale only for a correct response, RFC 2617 §3.2.1) and last the nonce count,
    so a wrong response can never burn a count. Without qop there is no nc: like Kamailio
    by default the nonce may be reused until it expires, unless ``single_use_without_qop``.
    """
    if creds.realm != realm:
        return _RESULTS[AuthStatus.REALM_MISMATCH]
    state = signer.check(creds.nonce, realm, now)
    if state is NonceState.INVALID:
        return _RESULTS[AuthStatus.INVALID_NONCE]
    try:
        _canon_algorithm(creds.algorithm)
    except DigestParseError:
        return _RESULTS[AuthStatus.UNSUPPORTED]
    if ha1_hex is None:
        return _RESULTS[AuthStatus.NO_HA1]
    try:
        expected = compute_response(
            ha1_hex,
            method=method,
            uri=creds.uri,
            nonce=creds.nonce,
            algorithm=creds.algorithm,
            qop=creds.qop,
            nc=creds.nc,
            cnonce=creds.cnonce,
            body=body,
        )
    except (DigestParseError, ValueError):
        return _RESULTS[AuthStatus.UNSUPPORTED]
    if not hmac.compare_digest(expected.encode(), creds.response.lower().encode()):
        return _RESULTS[AuthStatus.BAD_RESPONSE]
    if state is NonceState.STALE:
        return _RESULTS[AuthStatus.STALE_NONCE]
    if nonce_counts is not None and (creds.nc is not None or single_use_without_qop):
        nc = int(creds.nc, 16) if creds.nc is not None else 1
        expires = signer.expires(creds.nonce)
        assert expires is not None  # the signer accepted it
        seen = nonce_counts.check(creds.nonce, nc, expires)
        if seen is NonceState.STALE:
            return _RESULTS[AuthStatus.STALE_NONCE]
        if seen is NonceState.INVALID:
            return _RESULTS[AuthStatus.REPLAY]
    return _RESULTS[AuthStatus.OK]


def make_challenge(
    realm: str,
    nonce: str,
    *,
    stale: bool = False,
    qop: tuple[str, ...] = (),
    algorithm: str | None = None,
    opaque: str | None = None,
) -> Challenge:
    """A challenge; with the defaults it is exactly what Kamailio sends (realm and nonce only)."""
    if algorithm is not None:
        algorithm = _canon_algorithm(algorithm)
    return Challenge(
        realm=realm, nonce=nonce, algorithm=algorithm, qop=qop, opaque=opaque, stale=stale
    )
