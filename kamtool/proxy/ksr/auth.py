"""``KSR.auth`` and ``KSR.auth_db``: digest authentication against the subscriber
table (the row read on the database worker while the route waits)."""

from __future__ import annotations

from functools import partial
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, db_error, field, state, wait_db
from kamtool.proxy.ksr.msgops import reply
from kamtool.sip.errors import ParseError
from kamtool.sip.nonce import binding
from kamtool.sip.uri import parse_uri

# ------------------------------------------------------------------ auth, auth_db


# AuthStatus values (kamtool.sip.digest) -> auth_check()'s codes, as Kamailio's auth:
# -2 invalid password, -3 invalid user, -4 nonce expired, -6 nonce reused
_AUTH_CODES = {"stale_nonce": -4, "replay": -6, "no_ha1": -3, "bad_response": -2,
               "invalid_nonce": -2, "realm_mismatch": -2, "unsupported": -1}  # fmt: skip


def auth_check(realm: str, table: str = "subscriber", flags: int = 1) -> int:
    """Check the credentials for ``realm`` against the subscriber table: 1 when good;
    Kamailio's codes otherwise: -1 error (the database failed), -2 wrong password, -3 no
    such user, -4 stale nonce, -5 no credentials, -6 nonce reused, -8 the auth user is
    not the From user. The challenge ``auth_challenge()`` sends next is the one this check
    made (``stale=true`` after a stale nonce)."""
    ctx = state.ctx
    r = ctx.parts
    req = ctx.msg
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    is_reg = req.method == "REGISTER"
    from_uri = r.codec.from_uri(req)
    from_user = (from_uri.user or "") if from_uri is not None else ""
    creds = r.codec.credentials(req, proxy=not is_reg)
    if not creds:
        creds = r.codec.credentials(req, proxy=is_reg)
    bound = _bound(ctx)
    outcome = r.auth.check(req.method, creds, realm=realm, from_user=from_user,
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
        outcome = r.auth.check(req.method, creds, realm=realm, from_user=from_user,
                               challenge_status=401, stale_ok=stale_ok,
                               bound=bound)  # fmt: skip
    if outcome.status == 200:
        ctx.auth_user = outcome.user
        return 1
    if outcome.status == 403:
        return -8
    # what auth_challenge() sends next: stale=true when this check says so
    ctx.avps["\0challenge"] = (realm, outcome.stale)
    if not outcome.reason:
        return -5  # no credentials for this realm
    return _AUTH_CODES.get(outcome.reason, -1)


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
    for creds in (field(msg, "authorizations") or []) + (
        field(msg, "proxy_authorizations") or []
    ):
        if creds.get("realm") == str(realm):
            return 1
    return -1


def auth_functions() -> dict[str, Any]:
    return dict(
        auth_challenge=auth_challenge, consume_credentials=consume_credentials,
        has_credentials=has_credentials,
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
