"""Digest authentication against the ``subscriber`` table (Kamailio's auth + auth_db).

What the default route does with it (``auth_check("$fd", "subscriber", "1")`` then
``auth_challenge("$fd", "0")`` in the reference cfg):

* realm = the From domain; challenges carry only realm and nonce (no qop, no opaque);
* the subscriber row is found with use_domain=1: the domain part of ``username="u@d"`` when
  there is one, otherwise the realm;
* HA1 is computed from the plain ``password`` column (calculate_ha1=yes) or read from
  ``ha1``/``ha1b`` (calculate_ha1=no), exactly as :func:`kamtool.sip.digest.select_ha1` does;
* the authenticated user must be the From user; kamtool answers 403 when it is not
  (Kamailio challenges again, which makes clients loop on a configuration error).

Nonces are self-signed with a per-process secret and carry their own expiry, so nothing is
stored per challenge. Subscriber rows are cached for a couple of seconds to keep the
database off the hot path of retransmitted or repeated requests.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kamtool.sip import digest

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """Result of :meth:`Authenticator.check`.

    ``status`` is 200 (authenticated, ``user`` set), 401/407 (send ``challenge`` in
    WWW-/Proxy-Authenticate) or 403 (authenticated as someone else than the From user).
    """

    status: int
    user: str | None = None
    challenge: str | None = None
    reason: str = ""


class Authenticator:
    """Checks digest credentials of requests against ``subscriber``."""

    def __init__(
        self,
        database: Any,
        *,
        calculate_ha1: bool = True,
        nonce_expire: float = 300.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        lookup: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.database = database
        self.calculate_ha1 = calculate_ha1
        self.clock = clock
        self.signer = digest.NonceSigner(secret or os.urandom(32), lifetime=nonce_expire)
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lookup = lookup or self._db_lookup
        self._model: Any = None

    # ------------------------------------------------------------------ subscriber rows

    def _db_lookup(self, user: str, domain: str) -> Any:
        if self._model is None:
            from kamtool.proxy.usrloc import bound_model

            self._model = bound_model("subscriber", self.database)
        m = self._model
        return (
            m.select(m.password, m.ha1, m.ha1b)
            .where((m.username == user) & (m.domain == domain))
            .first()
        )

    def subscriber(self, user: str, domain: str) -> Any:
        """The subscriber row (password, ha1, ha1b) or None; cached for a moment."""
        now = time.monotonic()
        hit = self._cache.get((user, domain))
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self._lookup(user, domain)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(user, domain)] = (now + CACHE_SECONDS, row)
        return row

    # ------------------------------------------------------------------ checking

    def new_challenge(self, realm: str, stale: bool = False) -> str:
        """A header value ``Digest realm="…", nonce="…"`` (plus ``stale=true``)."""
        nonce = self.signer.issue(realm, self.clock(), os.urandom(4))
        return digest.make_challenge(realm, nonce, stale=stale).to_header()

    def check(
        self,
        method: str,
        credentials: Sequence[str],
        *,
        realm: str,
        from_user: str,
        challenge_status: int,
    ) -> AuthOutcome:
        """Check the ``Authorization`` (or ``Proxy-Authorization``) values of a request.

        ``challenge_status`` is 401 for REGISTER, 407 otherwise. Credentials for other
        realms are ignored, as auth_check does.
        """
        creds = None
        for value in credentials:
            try:
                parsed = digest.parse_credentials(value)
            except digest.DigestParseError:
                continue
            if parsed.realm == realm:
                creds = parsed
                break
        if creds is None:
            return AuthOutcome(challenge_status, challenge=self.new_challenge(realm))
        user, domain = digest.lookup_key(creds.username, realm)
        row = self.subscriber(user, domain)
        secret = None
        if row is not None:
            secret = digest.select_ha1(
                creds.username,
                realm,
                calculate_ha1=self.calculate_ha1,
                password=row.password,
                stored_ha1=row.ha1,
                stored_ha1b=row.ha1b,
                algorithm=creds.algorithm or "MD5",
            )
        result = digest.verify(
            creds, method, realm=realm, ha1_hex=secret, signer=self.signer, now=self.clock()
        )
        if not result.ok:
            log.info("auth failed for %r in realm %r: %s", user, realm, result.status.value)
            return AuthOutcome(
                challenge_status,
                challenge=self.new_challenge(realm, stale=result.stale),
                reason=result.status.value,
            )
        if not hmac.compare_digest(user.encode(), from_user.encode()):
            log.info("auth user %r is not the From user %r", user, from_user)
            return AuthOutcome(403, user=user, reason="Forbidden - auth user mismatch")
        return AuthOutcome(200, user=user)
