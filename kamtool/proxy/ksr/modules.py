"""The KSR modules that use the proxy's state: ``registrar``, ``auth``/``auth_db``,
``alias_db``, ``permissions``, ``pike``, ``htable``, ``nathelper``, ``dispatcher``,
``dialog``, ``acc``, and ``rtpproxy``/``rtpengine`` (not configured: -1).

Database work goes through :func:`~kamtool.proxy.ksr.context.wait_db`: the route waits,
the loop does not. Return codes are Kamailio's.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from kamtool.proxy.ksr.context import MsgContext, current, wait_db
from kamtool.proxy.ksr.dispatcher import dispatcher_functions
from kamtool.proxy.ksr.msgops import reply
from kamtool.proxy.ksr.pv import _ruser, _try
from kamtool.proxy.usrloc import METHOD_BITS
from kamtool.sip.nat import nat_uac_test as _nat_uac_test
from kamtool.sip.nat import parse_alias

log = logging.getLogger("kamtool.route")


def _db_error(ctx: MsgContext, what: str, error: BaseException) -> int:
    """A database failure inside a KSR call: logged (an outage once, by the worker);
    the function fails with -1 and the route decides what to answer."""
    ctx.router.log_db_error(what, error)
    return -1


# ------------------------------------------------------------------ registrar


def save(table: str = "location", flags: int = 0, uri: str = "") -> int:
    """Store the REGISTER's contacts and answer it (200 with the bindings, or the error
    status); 1 on success, -1 on failure (the error was answered already)."""
    ctx = current()
    r = ctx.router
    req = ctx.msg
    ul = r.usrloc
    to_uri = r.codec.to_uri(req)
    user = getattr(to_uri, "user", None)
    aor = ul.aor_key(user, getattr(to_uri, "host", None)) if user else None
    fetched = False
    if aor is not None and ul.needs_fetch(aor):
        try:
            ul.prefetched(aor, wait_db(partial(ul.fetch, aor)))
            fetched = True
        except Exception as exc:
            _db_error(ctx, "save(location)", exc)
            reply(ctx, 500, "Server Internal Error", error=True)
            return -1
    nat = None
    if ctx.fix_register or ctx.bflags:
        received = r.nat.registration(ctx.endpoint, ctx.addr)[0] if ctx.fix_register else None
        nat = (received, ctx.bflags)
    try:
        status, reason, headers = r.registrar.save(req, ctx.endpoint, ctx.addr, nat)
    finally:
        if fetched or (aor is not None and ul.db_mode == 3):
            ul.prefetched(aor, None)
    through = ul.db_mode == 3 or (ul.db_mode == 1 and ul.deferred and not _db_down(r))
    if status == 200 and ul.deferred and through:
        batch = ul.take_pending()
        if batch:
            try:
                wait_db(partial(ul.write_batch, batch))
                ul.batch_written(batch, None)
            except Exception as exc:
                ul.batch_written(batch, exc)
                if ul.db_mode == 3:
                    _db_error(ctx, "save(location)", exc)
                    reply(ctx, 500, "Server Internal Error", error=True)
                    return -1
                r.log_db_error("usrloc write-through (kept for the timer)", exc)
    if not int(flags) & 0x02:  # 0x02: no reply
        reply(ctx, status, reason, headers)
    return 1 if status == 200 else -1


def _db_down(router: Any) -> bool:
    return router.db is not None and router.db.down


def lookup(table: str = "location", uri: str = "") -> int:
    """The bindings of the R-URI's user: 1 (the R-URI becomes the first contact and
    ``t_relay()`` forks to all, q-groups in series); -1 none, -2 none accepts the
    method, -3 error (the database)."""
    ctx = current()
    r = ctx.router
    req = ctx.msg
    ul = r.usrloc
    user = _ruser(ctx) or ""
    aor = ul.aor_key(user, getattr(_try(lambda: req.uri), "host", None))
    fetched = False
    if ul.needs_fetch(aor):
        try:
            ul.prefetched(aor, wait_db(partial(ul.fetch, aor)))
            fetched = True
        except Exception as exc:
            return _db_error(ctx, "lookup(location)", exc) * 3
    try:
        bindings = ul.lookup(aor)
    finally:
        if fetched:
            ul.prefetched(aor, None)
    if not bindings:
        return -1
    bit = METHOD_BITS.get(req.method)
    allowed = [b for b in bindings if b.methods is None or bit is None or b.methods & bit]
    if not allowed:
        return -2
    if getattr(_try(lambda: req.uri), "secure", False):
        # RFC 3261 16.5, RFC 5630 3.1.3: a sips: request only goes to sips: contacts
        # (TLS on every hop); Kamailio's lookup() does not check this
        allowed = [b for b in allowed if b.contact[:5].lower() == "sips:"]
        if not allowed:
            return -1
    groups: list[list[Any]] = []
    for b in allowed:
        target = r.codec.target_for_binding(b, r._tcp_alive)
        if target is None:
            continue
        if groups and groups[-1][0].q == target.q:
            groups[-1].append(target)
        else:
            groups.append([target])
    if not groups:
        return -1
    ctx.targets = groups
    req.uri = groups[0][0].uri
    ctx.dst_uri = None
    return 1


def registered(table: str = "location", uri: str = "") -> int:
    ctx = current()
    ul = ctx.router.usrloc
    text = str(uri) if uri else ctx.msg.uri_text
    from kamtool.sip.uri import parse_uri

    parsed = _try(lambda: parse_uri(text))
    user = getattr(parsed, "user", None)
    if not user:
        return -1
    aor = ul.aor_key(user, getattr(parsed, "host", None))
    if ul.needs_fetch(aor):
        try:
            rows = wait_db(partial(ul.fetch, aor))
        except Exception as exc:
            return _db_error(ctx, "registered(location)", exc)
        return 1 if rows else -1
    return 1 if ul.lookup(aor) else -1


def registrar_functions() -> dict[str, Any]:
    return dict(save=save, lookup=lookup, registered=registered,
                lookup_uri=lambda table, uri: lookup(table, uri))  # fmt: skip


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
    ctx = current()
    r = ctx.router
    req = ctx.msg
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    is_reg = req.method == "REGISTER"
    from_uri = r.codec.from_uri(req)
    from_user = (from_uri.user or "") if from_uri is not None else ""
    creds = r.codec.credentials(req, proxy=not is_reg)
    if not creds:
        creds = r.codec.credentials(req, proxy=is_reg)
    outcome = r.auth.check(req.method, creds, realm=realm, from_user=from_user,
                           challenge_status=401)  # fmt: skip
    if outcome.status == 0 and outcome.lookup is not None:
        key = outcome.lookup
        try:
            row = wait_db(partial(r.auth.fetch, *key))
            r.auth.remember(*key, row)
            stale_ok = False
        except Exception as exc:
            if not r.auth.cached(*key, stale_ok=True)[0]:
                _db_error(ctx, "auth_check", exc)
                return -1
            stale_ok = True
        outcome = r.auth.check(req.method, creds, realm=realm, from_user=from_user,
                               challenge_status=401, stale_ok=stale_ok)  # fmt: skip
    if outcome.status == 200:
        ctx.auth_user = outcome.user
        return 1
    if outcome.status == 403:
        return -8
    ctx.avps["\0challenge"] = (realm, outcome.challenge)
    if not outcome.reason:
        return -5  # no credentials for this realm
    return _AUTH_CODES.get(outcome.reason, -1)


def auth_challenge(realm: str, flags: int = 0) -> int:
    """401 (REGISTER) or 407 (others) with a fresh challenge for ``realm``."""
    ctx = current()
    r = ctx.router
    realm = str(realm) or (r.config.domain or ctx.addr[0])
    if ctx.msg.method == "REGISTER":
        return _challenge(ctx, realm, 401)
    return _challenge(ctx, realm, 407)


def _challenge(ctx: MsgContext, realm: str, status: int) -> int:
    made = ctx.avps.get("\0challenge")
    value = made[1] if made and made[0] == realm and made[1] else None
    value = value or ctx.router.auth.new_challenge(realm)
    if status == 401:
        return reply(ctx, 401, "Unauthorized", [("WWW-Authenticate", value)])
    return reply(ctx, 407, "Proxy Authentication Required", [("Proxy-Authenticate", value)])


def consume_credentials() -> int:
    msg = current().msg
    n = msg.headers.remove("proxy-authorization") + msg.headers.remove("authorization")
    return 1 if n else -1


def has_credentials(realm: str) -> int:
    msg = current().msg
    for creds in (_try(lambda: msg.authorizations) or []) + (
        _try(lambda: msg.proxy_authorizations) or []
    ):
        if getattr(creds, "realm", None) == str(realm):
            return 1
    return -1


def auth_functions() -> dict[str, Any]:
    return dict(
        auth_challenge=auth_challenge, consume_credentials=consume_credentials,
        has_credentials=has_credentials,
        www_challenge=lambda realm, flags=0: _challenge(current(), str(realm), 401),
        proxy_challenge=lambda realm, flags=0: _challenge(current(), str(realm), 407),
    )  # fmt: skip


def auth_db_functions() -> dict[str, Any]:
    return dict(
        auth_check=auth_check,
        www_authenticate=lambda realm, table, method="": auth_check(realm, table, 0),
        www_authorize=lambda realm, table: auth_check(realm, table, 0),
        proxy_authenticate=lambda realm, table: auth_check(realm, table, 0),
        proxy_authorize=lambda realm, table: auth_check(realm, table, 0),
    )


# ------------------------------------------------------------------ alias_db


def alias_db_lookup(table: str = "dbaliases", flags: int = 0) -> int:
    """An R-URI user that is an alias becomes the user it stands for: 1; -1 otherwise."""
    ctx = current()
    aliases = ctx.engine.aliases
    uri = _try(lambda: ctx.msg.uri)
    user = getattr(uri, "user", None)
    if aliases is None or not user:
        return -1
    try:
        found = wait_db(partial(aliases.query, user, getattr(uri, "host", None)))
    except Exception as exc:
        return _db_error(ctx, "alias_db_lookup", exc)
    return 1 if aliases.apply(ctx.msg, found) else -1


# ------------------------------------------------------------------ permissions, pike


def allow_source_address(group: int = 1) -> int:
    ctx = current()
    perms = ctx.router.permissions
    if perms is None:
        return -1
    return 1 if perms.allows(int(group), ctx.addr[0], ctx.addr[1]) else -1


def pike_check_req() -> int:
    """1 below the limit; -1 (already blocked) or -2 (blocked now) over it."""
    ctx = current()
    pike = ctx.router.pike
    if pike is None:
        return 1
    return pike.check(ctx.addr[0]).value


# ------------------------------------------------------------------ htable


def _table(name: str) -> Any:
    store = current().router.htables
    return store.get(str(name)) if store is not None else None


def sht_get(table: str, key: str) -> Any:
    ht = _table(table)
    item = ht.get(str(key)) if ht is not None else None
    return item.value if item is not None else None


def sht_gete(table: str, key: str) -> Any:
    value = sht_get(table, key)
    return "" if value is None else value


def sht_sets(table: str, key: str, value: str) -> int:
    ht = _table(table)
    if ht is None:
        return -1
    ht.set(str(key), str(value))
    return 1


def sht_seti(table: str, key: str, value: int) -> int:
    ht = _table(table)
    if ht is None:
        return -1
    ht.set(str(key), int(value))
    return 1


def sht_rm(table: str, key: str) -> int:
    ht = _table(table)
    return 1 if ht is not None and ht.delete(str(key)) else -1


def sht_match_name(table: str, op: str, value: str) -> int:
    """1 when a key of ``table`` matches: ``op`` "eq", "ne", "re", "sw" (starts with)."""
    import re

    ht = _table(table)
    if ht is None:
        return -1
    text = str(value)
    test = {
        "eq": lambda k: k == text, "ne": lambda k: k != text,
        "re": lambda k: re.search(text, k) is not None, "sw": lambda k: k.startswith(text),
    }.get(str(op))  # fmt: skip
    if test is None:
        return -1
    keys = [k for items in ht.buckets().values() for k, _ in items]
    return 1 if any(test(k) for k in keys) else -1


def sht_inc(table: str, key: str) -> Any:
    value = sht_get(table, key)
    new = (value if isinstance(value, int) else 0) + 1
    sht_seti(table, key, new)
    return new


def htable_functions() -> dict[str, Any]:
    return dict(sht_get=sht_get, sht_gete=sht_gete, sht_sets=sht_sets, sht_seti=sht_seti,
                sht_rm=sht_rm, sht_match_name=sht_match_name, sht_inc=sht_inc)  # fmt: skip


# ------------------------------------------------------------------ nathelper


def nat_uac_test(flags: int) -> int:
    ctx = current()
    msg = ctx.msg
    via = _try(lambda: msg.top_via)
    if via is None:
        return -1
    from kamtool.proxy.nat import _contact_hostports

    nated = _nat_uac_test(int(flags), source=ctx.addr, via_host=via.host, via_port=via.port,
                          contacts=_contact_hostports(msg))  # fmt: skip
    ctx.nated = ctx.nated or nated
    return 1 if nated else -1


def fix_nated_register() -> int:
    """The REGISTER's source becomes the ``received`` of its contacts (save() stores it)."""
    ctx = current()
    if ctx.msg.method != "REGISTER":
        return -1
    ctx.fix_register = True
    return 1


def set_contact_alias() -> int:
    """``;alias=ip~port~proto`` on the Contact: of a request, its source; of a reply in an
    onreply route, the address it came from."""
    from kamtool.proxy.nat import alias_contact

    ctx = current()
    return 1 if alias_contact(ctx.msg, ctx.endpoint.proto, ctx.addr) else -1


def handle_ruri_alias() -> int:
    """An R-URI with ``;alias=``: the parameter goes and ``$du`` becomes that address.
    A malformed alias is a bad request (400), as a malformed header is."""
    ctx = current()
    uri = _try(lambda: ctx.msg.uri)
    params = getattr(uri, "params", None) or {}
    if "alias" not in params:
        return -1
    proto, host, port = parse_alias(params["alias"])
    ctx.msg.uri = uri.without_params("alias")
    shown = f"[{host}]" if ":" in host else host
    ctx.dst_uri = f"sip:{shown}:{port}" + ("" if proto == "udp" else f";transport={proto}")
    return 1


def add_contact_alias() -> int:
    return set_contact_alias()


def nathelper_functions() -> dict[str, Any]:
    return dict(nat_uac_test=nat_uac_test, fix_nated_register=fix_nated_register,
                set_contact_alias=set_contact_alias, handle_ruri_alias=handle_ruri_alias,
                add_contact_alias=add_contact_alias,
                fix_nated_contact=set_contact_alias)  # fmt: skip


# ------------------------------------------------------------------ dialog, acc


def dlg_manage() -> int:
    current().dialog = True
    return 1


def set_dlg_profile(profile: str, value: str = "") -> int:
    """Put the dialog in ``profile`` (with ``value``); the latest first, as dlg.list
    shows Kamailio's."""
    ctx = current()
    ctx.dialog = True
    ctx.profiles.insert(0, {str(profile): str(value)} if value else str(profile))
    return 1


def get_profile_size(profile: str, value: str = "", pv: str = "") -> int:
    """Dialogs in ``profile`` (with ``value``); kamtool: ``""`` counts every dialog."""
    dialogs = current().router.dialogs
    return dialogs.profile_size(str(profile), str(value) if value else None)


def dialog_functions() -> dict[str, Any]:
    return dict(dlg_manage=dlg_manage, set_dlg_profile=set_dlg_profile,
                get_profile_size=get_profile_size,
                is_known_dlg=lambda: 1 if current().loose else -1)  # fmt: skip


def acc_functions() -> dict[str, Any]:
    # accounting follows the flags (FLT_ACC 1, FLT_ACCMISSED 2, FLT_ACCFAILED 3) the
    # route sets; acc_log_request writes nothing more here
    return dict(acc_log_request=lambda comment="": 1, acc_db_request=lambda c="", t="": 1)


def _not_configured(module: str) -> Any:
    def fn(*_args: Any) -> int:
        log.warning("%s: no media relay is configured in kamtool", module)
        return -1

    return fn


def media_functions(module: str) -> dict[str, Any]:
    names = (
        "rtpproxy_manage",
        "rtpproxy_offer",
        "rtpproxy_answer",
        "unforce_rtp_proxy",
        "rtpengine_manage",
        "rtpengine_offer",
        "rtpengine_answer",
        "rtpengine_delete",
    )
    prefix = "rtpproxy" if module == "rtpproxy" else "rtpengine"
    return {n: _not_configured(module) for n in names if n.startswith(prefix)
            or (prefix == "rtpproxy" and n == "unforce_rtp_proxy")}  # fmt: skip


# ------------------------------------------------------------------ domain


def _domain_local(host: Any) -> int:
    domains = current().router.domains
    return 1 if host and domains is not None and domains.is_local(str(host)) else -1


def domain_functions() -> dict[str, Any]:
    return dict(
        is_from_local=lambda: _domain_local(getattr(_try(lambda: current().msg.from_.uri),
                                                    "host", None)),
        is_uri_host_local=lambda: _domain_local(getattr(_try(lambda: current().msg.uri),
                                                        "host", None)),
        is_domain_local=_domain_local,
    )  # fmt: skip


# ------------------------------------------------------------------ kamtool's own


def setting(name: str) -> Any:
    """A value of the proxy's configuration (``[proxy]`` in kamtool.toml)."""
    return getattr(current().router.config, str(name))


def call_limits() -> int:
    """The configured call limits (max_calls, max_calls_per_caller/_callee) on the
    profiles this INVITE joins: 1 when it was refused (and answered), -1 otherwise."""
    ctx = current()
    r = ctx.router
    refused = r._over_call_limit(ctx.msg, ctx.endpoint, ctx.addr, ctx.profiles)
    if refused:
        ctx.replied = True
    return 1 if refused else -1


def early_trying() -> int:
    """An INVITE whose route waits for the database is answered 100 first."""
    current().early_trying = True
    return 1


def cancel_waiting() -> int:
    """A CANCEL for an INVITE whose route waits for the database: that INVITE gets 487
    when its answer comes (1); -1 when no such INVITE waits."""
    ctx = current()
    r = ctx.router
    key = r._wait_key(ctx.msg, ctx.addr, "INVITE")
    invite = ctx.engine.processing.get(key)
    if invite is None or invite.replied:
        return -1
    invite.cancelled = True
    return 1


def refuse_new() -> int:
    """Overload protection (``[proxy] overload``): while the proxy is overloaded a new
    initial request gets a stateless 503 with Retry-After (1); -1 otherwise."""
    ctx = current()
    r = ctx.router
    shed = r.overload
    msg = ctx.msg
    if shed is None or not shed.overloaded or msg.method == "ACK" or _try(lambda: msg.to_tag):
        return -1
    r._sl_reply(msg, ctx.endpoint, ctx.addr, 503, "Service Unavailable", shed.reject_headers())
    ctx.replied = True
    return 1


def kamtool_functions() -> dict[str, Any]:
    """``KSR.kamtool``: what kamtool's default route needs beyond Kamailio's modules."""
    return dict(setting=setting, call_limits=call_limits, early_trying=early_trying,
                cancel_waiting=cancel_waiting, refuse_new=refuse_new)  # fmt: skip


def misc_functions() -> dict[str, dict[str, Any]]:
    """The modules of this file, by KSR name."""
    return {
        "registrar": registrar_functions(),
        "auth": auth_functions(),
        "auth_db": auth_db_functions(),
        "alias_db": {"lookup": alias_db_lookup},
        "permissions": {"allow_source_address": allow_source_address},
        "pike": {"pike_check_req": pike_check_req},
        "htable": htable_functions(),
        "nathelper": nathelper_functions(),
        "dispatcher": dispatcher_functions(),
        "dialog": dialog_functions(),
        "acc": acc_functions(),
        "domain": domain_functions(),
        "kamtool": kamtool_functions(),
        "rtpproxy": media_functions("rtpproxy"),
        "rtpengine": media_functions("rtpengine"),
    }
