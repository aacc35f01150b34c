"""Digest authentication against the ``subscriber`` table (Kamailio's auth + auth_db).

What the default route does with it (``auth_check("$fd", "subscriber", "1")`` then
``auth_challenge("$fd", "0")`` in the reference cfg):

* realm = the From domain; challenges carry realm, nonce and (by default, ``auth_qop``)
  ``qop="auth"``, as ``auth_challenge("$fd", "1")`` makes them;
* the subscriber row is found with use_domain=1: the domain part of ``username="u@d"`` when
  there is one, otherwise the realm;
* HA1 is computed from the plain ``password`` column (calculate_ha1=yes) or read from
  ``ha1``/``ha1b`` (calculate_ha1=no), exactly as :func:`kamtool.sip.digest.select_ha1` does;
* the authenticated user must be the From user; kamtool answers 403 when it is not
  (Kamailio challenges again, which makes clients loop on a configuration error).

Nonces are self-signed with a per-process secret and carry their own expiry, so nothing is
stored per challenge. Replays are refused as Kamailio's auth module does when asked (and
kamtool asks by default): each nonce count of a qop answer is accepted once
(``nonce_count``), a nonce answered without qop is good for one request
(``one_time_nonce``), and a nonce may be bound to the request's source address, Call-ID,
From tag or Request-URI (``auth_checks_*``, off by default as in Kamailio). A replayed
answer (right password, used nonce) and a nonce used from elsewhere are challenged again
with ``stale=true``. Kamailio sends no stale=true after a reused nonce; kamtool does, as
RFC 7616 §3.3 asks for a valid response with an unusable nonce, so the phone retries
instead of asking its user for a new password (this includes a UDP retransmission of
a REGISTER whose 200 was lost: the route answers REGISTER statelessly, so the copy is a
second use; as with Kamailio's nonce_count, the phone answers the new challenge, one
round trip more, rather than anything accepting a Contact the digest does not cover
twice). The used counts are kept in memory
(:class:`~kamtool.sip.nonce.NonceCountTracker`): a restart forgets them, but it also
changes the secret unless ``[proxy] secret`` is set (then nonces issued before a restart
could be replayed once after it, for at most ``nonce_expire`` seconds).

Subscriber rows are cached for a couple of seconds to keep the database off the hot path
of retransmitted or repeated requests.

In the proxy the database is read on its worker thread (``deferred``): :meth:`check`
then answers status 0 with ``lookup`` = the (user, domain) to read when the row is not
cached; the route (KSR.auth_db) suspends the request, reads the row off the loop, gives it to
:meth:`remember` and checks again. While the database is away (``db_down()``) a row
cached up to ``stale_if_error`` seconds ago still serves (the idea of RFC 5861's
stale-if-error): phones that registered before the outage keep re-registering and
calling; a subscriber never seen gets 500 "Server Internal Error". That is auth_db's
own answer when it cannot query (www_authorize/proxy_authorize), not what Kamailio 5.6
does with the reference cfg: there auth_check just fails and route[AUTH] challenges
again (401/407, checked by tests/proxy/test_db_outage.py), which tells the phone its
password is wrong; a 5xx says the server is at fault. The price of the stale rows: a
password changed or a subscriber deleted just before an outage still works with the old
row until the database is back.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

from kamtool.sip import digest

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0
STALE_IF_ERROR = 7200.0  # twice the usual registration interval
CACHE_ENTRIES = 100_000  # the oldest goes first; three short strings each


class Secrets(NamedTuple):
    """What a cached subscriber row keeps: the columns digest checking reads."""

    password: str | None
    ha1: str | None
    ha1b: str | None


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """Result of :meth:`Authenticator.check`.

    ``status`` is 200 (authenticated, ``user`` set), 401/407 (send ``challenge`` in
    WWW-/Proxy-Authenticate), 403 (authenticated as someone else than the From user) or
    0: the subscriber row ``lookup`` = (user, domain) must be read first (deferred).
    """

    status: int
    user: str | None = None
    reason: str = ""
    lookup: tuple[str, str] | None = None
    stale: bool = False  # the challenge says stale=true
    make_challenge: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def challenge(self) -> str | None:
        """The WWW-/Proxy-Authenticate value to send, made (with a fresh nonce) when
        read: KSR's ``auth_check`` only reports the status and the route challenges by
        itself, so a nonce made here every time was wasted (an HMAC per 401)."""
        return None if self.make_challenge is None else self.make_challenge()


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
        stale_if_error: float = STALE_IF_ERROR,
        qop: bool = True,
        nonce_count: bool = True,
        one_time_nonce: bool = True,
        max_nonces: int = 100_000,
        deferred: bool = False,
        db_down: Callable[[], bool] | None = None,
    ) -> None:
        self.database = database
        self.calculate_ha1 = calculate_ha1
        self.clock = clock
        self.signer = digest.NonceSigner(secret or os.urandom(32), lifetime=nonce_expire)
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}  # key: (fetched at, row)
        self._lookup = lookup or self._db_lookup
        self._model: Any = None
        self.stale_if_error = stale_if_error
        self.deferred = deferred  # rows are read by the caller (the proxy's DB worker)
        self.db_down: Callable[[], bool] = db_down or (lambda: False)
        self.qop = qop  # challenges made by check() offer qop="auth"
        self.nonce_count = nonce_count
        self.one_time_nonce = one_time_nonce
        self.used = digest.NonceCountTracker(max_nonces)  # nonce counts already accepted
        self._pruned = 0.0

    # ------------------------------------------------------------------ subscriber rows

    def _subscriber_model(self) -> Any:
        if self._model is None:
            from kamtool.proxy.usrloc import bound_model

            self._model = bound_model("subscriber", self.database)
        return self._model

    def _db_lookup(self, user: str, domain: str) -> Any:
        m = self._subscriber_model()
        return (
            m.select(m.password, m.ha1, m.ha1b)
            .where((m.username == user) & (m.domain == domain))
            .first()
        )

    def exists(self, user: str, domain: str | None) -> bool:
        """A subscriber row with ``user`` (and ``domain``, unless None) is in the table
        (auth_db's is_subscriber(); the DB worker calls it); raises on a database error."""
        if self._lookup != self._db_lookup:  # rows from elsewhere (tests): by (user, domain)
            return domain is not None and self._lookup(user, domain) is not None
        m = self._subscriber_model()
        where = m.username == user
        if domain is not None:
            where &= m.domain == domain
        return m.select(m.username).where(where).first() is not None

    def fetch(self, user: str, domain: str) -> Any:
        """Read the subscriber row (password, ha1, ha1b) or None from the database, not
        cached (any thread: the proxy's DB worker calls it); raises on a database error."""
        return self._lookup(user, domain)

    def remember(self, user: str, domain: str, row: Any) -> None:
        """Cache what :meth:`fetch` read (the oldest entry goes when the cache is full)."""
        key = (user, domain)
        self._cache.pop(key, None)  # re-inserted: the dict stays in age order
        kept = None if row is None else Secrets(row.password, row.ha1, row.ha1b)
        self._cache[key] = (time.monotonic(), kept)
        if len(self._cache) > CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]

    def cached(self, user: str, domain: str, *, stale_ok: bool = False) -> tuple[bool, Any]:
        """``(True, row)`` when the row is cached and fresh (or, with ``stale_ok``, not
        older than ``stale_if_error``), else ``(False, None)``."""
        hit = self._cache.get((user, domain))
        if hit is None:
            return False, None
        age = time.monotonic() - hit[0]
        if age < CACHE_SECONDS or (stale_ok and age < self.stale_if_error):
            return True, hit[1]
        return False, None

    def subscriber(self, user: str, domain: str) -> Any:
        """The subscriber row (password, ha1, ha1b) or None; cached for a moment. Reads
        the database on the calling thread when the cache has nothing."""
        found, row = self.cached(user, domain)
        if not found:
            row = self.fetch(user, domain)
            self.remember(user, domain, row)
        return row

    # ------------------------------------------------------------------ checking

    def new_challenge(
        self, realm: str, stale: bool = False, *, qop: bool | None = None, bound: bytes = b""
    ) -> str:
        """A header value ``Digest realm="…", nonce="…"`` (plus ``qop="auth"`` when
        ``qop``, by default :attr:`qop`, and ``stale=true``); ``bound``: the request values
        the nonce is bound to (:func:`kamtool.sip.nonce.binding`)."""
        nonce = self.signer.issue(realm, self.clock(), os.urandom(4), bound)
        offer = ("auth",) if (self.qop if qop is None else qop) else ()
        return digest.make_challenge(realm, nonce, stale=stale, qop=offer).to_header()

    def check(
        self,
        method: str,
        credentials: Sequence[str],
        *,
        realm: str,
        from_user: str | None,
        challenge_status: int,
        stale_ok: bool = False,
        bound: bytes = b"",
        given: tuple[str, bool] | None = None,
    ) -> AuthOutcome:
        """Check the ``Authorization`` (or ``Proxy-Authorization``) values of a request.

        ``challenge_status`` is 401 for REGISTER, 407 otherwise. Credentials for other
        realms are ignored, as auth_check does. Deferred, an uncached row gives status 0
        (see :class:`AuthOutcome`); ``stale_ok`` (the database just failed) accepts an
        older cached row, as does a known outage. ``bound``: what the nonce must be bound
        to (the challenge made here is bound to it too). ``given``: (the password or, when
        the flag is true, its HA1) to check against instead of the subscriber row
        (``pv_auth_check``); ``from_user`` None: no identity check here.
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
            return AuthOutcome(
                challenge_status, make_challenge=partial(self.new_challenge, realm, bound=bound)
            )
        user, domain = digest.lookup_key(creds.username, realm)
        row = None
        if given is not None:
            value, is_ha1 = given
            row = Secrets(None if is_ha1 else value, value if is_ha1 else None, None)
        elif self.deferred:
            found, row = self.cached(user, domain, stale_ok=stale_ok or self.db_down())
            if not found:
                return AuthOutcome(0, lookup=(user, domain))
        else:
            row = self.subscriber(user, domain)
        secret = None
        if row is not None:
            secret = digest.select_ha1(
                creds.username,
                realm,
                calculate_ha1=self.calculate_ha1 if given is None else not given[1],
                password=row.password,
                stored_ha1=row.ha1,
                stored_ha1b=row.ha1 if given is not None else row.ha1b,
                algorithm=creds.algorithm or "MD5",
            )
        now = self.clock()
        if now - self._pruned > 30.0:
            self._pruned = now
            self.used.prune(now)
        result = digest.verify(
            creds, method, realm=realm, ha1_hex=secret, signer=self.signer, now=now,
            nonce_counts=self.used, count_nc=self.nonce_count,
            single_use_without_qop=self.one_time_nonce, bound=bound,
        )  # fmt: skip
        if not result.ok:
            log.info("auth failed for %r in realm %r: %s", user, realm, result.status.value)
            # a replay carries a right response: stale=true (see the module docstring)
            stale = result.stale or result.status is digest.AuthStatus.REPLAY
            return AuthOutcome(
                challenge_status,
                make_challenge=partial(self.new_challenge, realm, stale=stale, bound=bound),
                reason=result.status.value,
                stale=stale,
            )
        if from_user is not None and not hmac.compare_digest(user.encode(), from_user.encode()):
            log.info("auth user %r is not the From user %r", user, from_user)
            return AuthOutcome(403, user=user, reason="Forbidden - auth user mismatch")
        return AuthOutcome(200, user=user)
