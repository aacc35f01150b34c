"""Digest nonces: self-contained, HMAC-signed, with an expiry (:class:`NonceSigner`), and
the nonce counts already used with them (:class:`NonceCountTracker`).

A nonce may also be bound to parts of the request it challenged (Kamailio's
``auth_checks_register``/``auth_checks_no_dlg``/``auth_checks_in_dlg``): :func:`binding`
makes the bytes, the signer adds a second MAC over them. Credentials carrying a bound
nonce from another source (or Call-ID, From tag, Request-URI) are then stale, as in
Kamailio: the client is challenged again with ``stale=true``."""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CHECK_CALLID",
    "CHECK_FROMTAG",
    "CHECK_RURI",
    "CHECK_SRCIP",
    "NonceCountTracker",
    "NonceSigner",
    "NonceState",
    "binding",
]

# the bits of Kamailio's auth_checks_* parameters
CHECK_RURI = 1
CHECK_CALLID = 2
CHECK_FROMTAG = 4
CHECK_SRCIP = 8


def binding(
    checks: int, *, ruri: str = "", call_id: str = "", from_tag: str = "", src_ip: str = ""
) -> bytes:
    """The request values a nonce is bound to for the ``checks`` bits (b"" when none)."""
    if not checks & 15:
        return b""
    parts = [
        str(checks & 15),
        ruri if checks & CHECK_RURI else "",
        call_id if checks & CHECK_CALLID else "",
        from_tag if checks & CHECK_FROMTAG else "",
        src_ip if checks & CHECK_SRCIP else "",
    ]
    return "\0".join(parts).encode("utf-8", "surrogateescape")


class NonceState(Enum):
    VALID = "valid"
    STALE = "stale"  # correctly signed but expired: answer with stale=true
    INVALID = "invalid"  # not ours (bad base64, length, signature or realm)


# nonce = base64( expires:u32 BE | salt:4 bytes | HMAC-SHA256(secret, expires|salt|realm)[:16] )
# 24 bytes -> 32 base64 characters, the same length as Kamailio's nonces. A bound nonce
# adds HMAC-SHA256(secret, "bind" | expires|salt | binding)[:12] (36 bytes, 48 characters).
_NONCE_HEAD = struct.Struct(">I4s")
_MAC_LEN = 16
_BIND_LEN = 12
_NONCE_LEN = _NONCE_HEAD.size + _MAC_LEN
_BOUND_LEN = _NONCE_LEN + _BIND_LEN


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

    def _bind_mac(self, head: bytes, bound: bytes) -> bytes:
        return hmac.digest(self.secret, b"bind" + head + bound, "sha256")[:_BIND_LEN]

    def issue(self, realm: str, now: float, salt: bytes, bound: bytes = b"") -> str:
        """A new nonce for ``realm`` valid until ``now + lifetime``; ``salt``: 4 random bytes;
        ``bound``: the request values it is bound to (:func:`binding`), b"" for none."""
        if len(salt) != 4:
            raise ValueError("salt must be 4 bytes")
        head = _NONCE_HEAD.pack(int(now + self.lifetime) & 0xFFFFFFFF, salt)
        raw = head + self._mac(head, realm)
        if bound:
            raw += self._bind_mac(head, bound)
        return base64.b64encode(raw).decode("ascii")

    def expires(self, nonce: str) -> int | None:
        """The expiry carried by ``nonce`` (unauthenticated; check() first)."""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return None
        return _NONCE_HEAD.unpack_from(raw)[0] if len(raw) in (_NONCE_LEN, _BOUND_LEN) else None

    def check(self, nonce: str, realm: str, now: float, bound: bytes = b"") -> NonceState:
        """VALID, STALE (signed by us but expired, or not bound to ``bound``: issued for
        another request or source) or INVALID."""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except (binascii.Error, ValueError):
            return NonceState.INVALID
        if len(raw) not in (_NONCE_LEN, _BOUND_LEN):
            return NonceState.INVALID
        head, mac = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size : _NONCE_LEN]
        if not hmac.compare_digest(mac, self._mac(head, realm)):
            return NonceState.INVALID
        (expires, _salt) = _NONCE_HEAD.unpack(head)
        if bound or len(raw) == _BOUND_LEN:
            # ours, but for other request values (or bound when it should not be):
            # stale, so that the client fetches a nonce for the request it sends
            tail = raw[_NONCE_LEN:]
            if not bound or not hmac.compare_digest(tail, self._bind_mac(head, bound)):
                return NonceState.STALE
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
