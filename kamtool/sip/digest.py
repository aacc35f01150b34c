"""SIP digest authentication (RFC 2617, RFC 7616 algorithms as profiled for SIP by RFC 8760).

Pure functions and small caller-owned objects: no clock reads (``now`` comes in), no hidden
randomness (nonce salt and cnonce come in as arguments). The header syntax lives in
:mod:`kamtool.sip.digest_header`, the nonces in :mod:`kamtool.sip.nonce`, HA1 in
:mod:`kamtool.sip.ha1`; this module exports them with the computation and verification.

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

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

from .digest_header import (
    Challenge,
    Credentials,
    parse_challenge,
    parse_credentials,
    select_challenge,
    split_auth,
)
from .ha1 import ALGORITHMS, DigestParseError, ha1, ha1b
from .ha1 import HASHES as _HASHES
from .ha1 import canon_algorithm as _canon_algorithm
from .ha1 import hasher as _hasher
from .nonce import NonceCountTracker, NonceSigner, NonceState

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
    "split_auth",
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
    count_nc: bool = True,
    bound: bytes = b"",
) -> AuthResult:
    """Check ``creds`` for a request of ``method``; ``ha1_hex`` from select_ha1() for the
    algorithm the credentials name (HA1 differs per hash algorithm).

    Order: realm, nonce signature, algorithm/qop, response (constant-time compare), then
    expiry (stale only for a correct response, RFC 2617 §3.2.1) and last the nonce count,
    so a wrong response can never burn a count. With ``nonce_counts`` each nc of a qop
    request is accepted once (``count_nc``, Kamailio's ``nonce_count``). Without qop there
    is no nc: the nonce may be reused until it expires (Kamailio's default), unless
    ``single_use_without_qop`` (Kamailio's ``one_time_nonce``). ``bound``: the request
    values the nonce must be bound to (:func:`kamtool.sip.nonce.binding`).
    """
    if creds.realm != realm:
        return _RESULTS[AuthStatus.REALM_MISMATCH]
    state = signer.check(creds.nonce, realm, now, bound)
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
    if creds.nc is not None:
        counted = count_nc
    else:
        counted = single_use_without_qop
    if nonce_counts is not None and counted:
        try:
            nc = int(creds.nc, 16) if creds.nc is not None else 1
        except ValueError:
            return _RESULTS[AuthStatus.UNSUPPORTED]
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
