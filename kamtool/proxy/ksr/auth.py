"""``KSR.auth`` and ``KSR.auth_db``: digest authentication against the subscriber
table (the row read on the database worker while the route waits)."""

from __future__ import annotations

import hmac
import logging
from functools import partial
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, db_error, field, state, wait_db
from kamtool.proxy.ksr.msgops import reply
from kamtool.sip.errors import ParseError
from kamtool.sip.nonce import binding
from kamtool.sip.uri import parse_uri

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ auth, auth_db


# AuthStatus values (kamtool.sip.digest) -> auth_check()'s codes, as Kamailio's auth:
# -2 invalid password, -3 invalid user, -4 nonce expired, -6 nonce reused
_AUTH_CODES = {"stale_nonce": -4, "replay": -6, "no_ha1": -3, "bad_response": -2,
               "invalid_nonce": -2, "realm_mismatch": -2, "unsupported": -1}  # fmt: skip


AUTH_CHECK_ID = 1  # auth_check() flag: the auth user must be the From (REGISTER: To) user
AUTH_CHECK_SKIPFWD = 2  # ... except on INVITE, BYE, PRACK, UPDATE and MESSAGE
_FORWARDED = frozenset(("INVITE", "BYE", "PRACK", "UPDATE", "MESSAGE"))


def auth_check(realm: str, table: str = "subscriber", flags: int = 1) -> int:
    """Check the credentials for ``realm`` against the subscriber table: 1 when good
    (always for ACK and CANCEL, which cannot be challenged); Kamailio's codes otherwise:
    -1 error (the database failed), -2 wrong password, -3 no such user, -4 stale nonce,
    -5 no credentials, -6 nonce reused, -8 an identity mismatch (:func:`_identity`, with
    flag 1). The challenge ``auth_challenge()`` sends next is the one this check made
    (``stale=true`` after a stale nonce)."""
    ctx = state.ctx
    r = ctx.parts
    req = ctx.msg
    if req.method in ("ACK", "CANCEL"):
        return 1
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    creds = _credentials(ctx)
    bound = _bound(ctx)
    outcome = r.auth.check(req.method, creds, realm=realm, from_user=None,
                           challenge_status=401, bound=bound)  # fmt: skip
    if outcome.status == 0 and outcome.lookup is not None:
        key = outcome.lookup
        try:
            row = wait_db(partial(r.auth.fetch, *key))
            r.auth.remember(*key, row)
            stale_ok = False
        except Exception as exc:
            if not r.auth.cached(*key, stale_ok=True)[0]:
                db_error(ctx, "auth_check", exc)
                return -1
            stale_ok = True
        outcome = r.auth.check(req.method, creds, realm=realm, from_user=None,
                               challenge_status=401, stale_ok=stale_ok,
                               bound=bound)  # fmt: skip
    return _answer(ctx, realm, outcome, int(flags))


def pv_auth_check(realm: str, passwd: str, flags: int, checks: int) -> int:
    """auth's ``pv_auth_check``: the credentials checked against ``passwd`` (its HA1 with
    flag 1) instead of a subscriber row; ``checks`` 1 adds auth_check's identity check.
    auth_check's codes (-3 cannot happen: there is no row to miss)."""
    ctx = state.ctx
    r = ctx.parts
    req = ctx.msg
    if req.method in ("ACK", "CANCEL"):
        return 1
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    outcome = r.auth.check(req.method, _credentials(ctx), realm=realm, from_user=None,
                           challenge_status=401, bound=_bound(ctx),
                           given=(str(passwd), bool(int(flags) & 1)))  # fmt: skip
    return _answer(ctx, realm, outcome, int(checks) & AUTH_CHECK_ID)


def _credentials(ctx: MsgContext) -> list[str]:
    """Authorization values for REGISTER, Proxy-Authorization for the rest (the other
    header when the right one is missing)."""
    is_reg = ctx.msg.method == "REGISTER"
    codec = ctx.parts.codec
    return codec.credentials(ctx.msg, proxy=not is_reg) or codec.credentials(ctx.msg, proxy=is_reg)


def _answer(ctx: MsgContext, realm: str, outcome: Any, flags: int) -> int:
    """A check's outcome as auth's return code (and the challenge to send next)."""
    if outcome.status == 200:
        if flags & AUTH_CHECK_ID and not _identity(ctx, outcome.user or "", flags):
            return -8
        ctx.auth_user = outcome.user
        return 1
    # what auth_challenge() sends next: stale=true when this check says so
    ctx.avps["\0challenge"] = (realm, outcome.stale)
    if not outcome.reason:
        return -5  # no credentials for this realm
    return _AUTH_CODES.get(outcome.reason, -1)


def _identity(ctx: MsgContext, user: str, flags: int) -> bool:
    """auth_db's identity check: the auth user is the From user, or for REGISTER and
    PUBLISH the To user, with From the same as To (host too with ``auth_use_domain``) and
    for PUBLISH the R-URI user too. Without it a subscriber could register their own
    contact at anyone's address with their own password."""
    req = ctx.msg
    codec = ctx.parts.codec
    from_uri = codec.from_uri(req)
    if from_uri is None:
        return False
    binds = req.method in ("REGISTER", "PUBLISH")
    to_uri = codec.to_uri(req) if binds else None
    if binds and to_uri is None:
        return False
    claimed = getattr(to_uri if binds else from_uri, "user", None) or ""
    skip = flags & AUTH_CHECK_SKIPFWD and req.method in _FORWARDED
    if not skip and not hmac.compare_digest(user.encode(), claimed.encode()):
        log.info("auth user %r is not the %s user", user, "To" if binds else "From")
        return False
    if binds:
        to_user, to_host = getattr(to_uri, "user", None) or "", getattr(to_uri, "host", "") or ""
        if (from_uri.user or "") != to_user:
            return False
        if ctx.parts.config.auth_use_domain and (from_uri.host or "").lower() != to_host.lower():
            return False
        if req.method == "PUBLISH" and (from_uri.user or "") != _ruri_user(req):
            return False
    return True


def _ruri_user(req: Any) -> str:
    try:
        return getattr(parse_uri(str(req.uri)), "user", None) or ""
    except (ParseError, ValueError):
        return ""


def _bound(ctx: MsgContext) -> bytes:
    """The request values this request's nonces are bound to: ``auth_checks_register``
    for REGISTER, ``auth_checks_in_dlg`` with a To tag, ``auth_checks_no_dlg`` without."""
    cfg = ctx.parts.config
    req = ctx.msg
    if req.method == "REGISTER":
        checks = cfg.auth_checks_register
    elif req.to_tag:
        checks = cfg.auth_checks_in_dlg
    else:
        checks = cfg.auth_checks_no_dlg
    if not checks:
        return b""
    return binding(checks, ruri=str(req.uri), call_id=req.call_id or "",
                   from_tag=req.from_tag or "", src_ip=ctx.addr[0])  # fmt: skip


def auth_challenge(realm: str, flags: int = 0) -> int:
    """401 (REGISTER) or 407 (others) with a fresh challenge for ``realm``; ``flags``
    as Kamailio's: 1 offers qop="auth" (2, auth-int, is offered as auth)."""
    ctx = state.ctx
    r = ctx.parts
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    if ctx.msg.method == "REGISTER":
        return _challenge(ctx, realm, 401, flags)
    return _challenge(ctx, realm, 407, flags)


def _challenge(ctx: MsgContext, realm: str, status: int, flags: int = 0) -> int:
    made = ctx.avps.get("\0challenge")
    stale = bool(made and made[0] == realm and made[1])
    value = ctx.parts.auth.new_challenge(realm, stale, qop=bool(int(flags) & 3), bound=_bound(ctx))
    if status == 401:
        return reply(ctx, 401, "Unauthorized", [("WWW-Authenticate", value)])
    return reply(ctx, 407, "Proxy Authentication Required", [("Proxy-Authenticate", value)])


def consume_credentials() -> int:
    msg = state.ctx.msg
    n = msg.headers.remove("proxy-authorization") + msg.headers.remove("authorization")
    return 1 if n else -1


def has_credentials(realm: str) -> int:
    msg = state.ctx.msg
    for creds in (field(msg, "authorizations") or []) + (field(msg, "proxy_authorizations") or []):
        if creds.get("realm") == str(realm):
            return 1
    return -1


def auth_functions() -> dict[str, Any]:
    return dict(
        auth_challenge=auth_challenge, consume_credentials=consume_credentials,
        has_credentials=has_credentials, pv_auth_check=pv_auth_check,
        www_challenge=lambda realm, flags=0: _challenge(state.ctx, str(realm), 401, flags),
        proxy_challenge=lambda realm, flags=0: _challenge(state.ctx, str(realm), 407, flags),
    )  # fmt: skip


def is_subscriber(uri: str, table: str, flags: int) -> int:
    """auth_db's is_subscriber(): 1 when the subscriber table has the URI's user (flag 1:
    and its host as the domain); -2 when it has not; -1 for a URI that does not parse,
    a table other than ``subscriber`` or a database error. (kamtool loads no credential
    attributes: flag 2's "only check" is what it always does.)"""
    ctx = state.ctx
    try:
        parsed = parse_uri(str(uri)) if str(uri) else None
    except (ParseError, ValueError):
        parsed = None
    if parsed is None or getattr(parsed, "host", None) is None or str(table) != "subscriber":
        return -1
    domain = parsed.host if int(flags) & 1 else None
    try:
        found = wait_db(partial(ctx.parts.auth.exists, parsed.user or "", domain))
    except Exception as exc:
        return db_error(ctx, "is_subscriber", exc)
    return 1 if found else -2


def auth_db_functions() -> dict[str, Any]:
    return dict(
        auth_check=auth_check,
        is_subscriber=is_subscriber,
        www_authenticate=lambda realm, table, method="": auth_check(realm, table, 0),
        www_authorize=lambda realm, table: auth_check(realm, table, 0),
        proxy_authenticate=lambda realm, table: auth_check(realm, table, 0),
        proxy_authorize=lambda realm, table: auth_check(realm, table, 0),
    )
