"""``KSR.registrar`` and ``KSR.alias_db``: contacts saved and looked up, aliases.

Database work goes through :func:`~kamtool.proxy.ksr.context.wait_db`: the route waits,
the loop does not. Return codes are Kamailio's.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kamtool.proxy.dbworker import log_db_error
from kamtool.proxy.ksr.context import db_error, field, in_route, state, wait_db
from kamtool.proxy.ksr.msgops import reply
from kamtool.proxy.ksr.pv import _uri_user
from kamtool.proxy.outbound import choose_flows, spare_flows
from kamtool.proxy.ul_replication import RemoteLocation
from kamtool.proxy.usrloc import METHOD_BITS, UNSTORED_RETRY_AFTER
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import parse_uri

SPARE_FLOWS = "registrar:spare_flows"  # ctx.avps: other flows of the instances lookup() chose

# ------------------------------------------------------------------ registrar


def save(table: str = "location", flags: int = 0, uri: str = "") -> int:
    """Store the REGISTER's contacts and answer it (200 with the bindings, or the error
    status); 1 on success, -1 on failure (the error was answered already)."""
    ctx = state.ctx
    r = ctx.parts
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
            db_error(ctx, "save(location)", exc)
            reply(ctx, 500, "Server Internal Error", error=True)
            return -1
    nat = None
    if ctx.fix_register or ctx.bflags:
        received = r.nat.registration(ctx.endpoint, ctx.addr)[0] if ctx.fix_register else None
        nat = (received, ctx.bflags)
    news = ul.shared.news if ul.shared is not None else 0
    try:
        status, reason, headers = r.registrar.save(req, ctx.endpoint, ctx.addr, nat)
    finally:
        if fetched or (aor is not None and ul.db_mode == 3):
            ul.prefetched(aor, None)
    strict = ul.db_mode == 3 or (ul.db_mode == 1 and not r.config.usrloc_ack_unstored)
    through = ul.db_mode == 3 or (ul.db_mode == 1 and ul.deferred and not _db_down(r))
    if status == 200 and ul.deferred and ul.db_mode == 1 and strict and not through:
        # the database is known to be away: no 200 for what it does not hold
        return _unstored(ctx, None)
    if status == 200 and ul.deferred and through:
        batch = ul.take_pending()
        if batch:
            try:
                wait_db(partial(ul.write_batch, batch))
                ul.batch_written(batch, None)
            except Exception as exc:
                ul.batch_written(batch, exc)
                if ul.db_mode == 3:
                    db_error(ctx, "save(location)", exc)
                    reply(ctx, 500, "Server Internal Error", error=True)
                    return -1
                if strict:
                    return _unstored(ctx, exc)
                log_db_error("usrloc write-through (kept for the timer)", exc)
    shared: RemoteLocation | None = ul.shared  # (only when up)
    if status == 200 and shared is not None and shared.news != news and shared.up and in_route():
        # a new contact (or one removed): the 200 once Redis has it, as the next INVITE
        # may reach another node; a refresh does not wait
        _shared_wait(shared.link.flushed, None)
    if not int(flags) & 0x02:  # 0x02: no reply
        reply(ctx, status, reason, headers)
    return 1 if status == 200 else -1


def _unstored(ctx: Any, exc: BaseException | None) -> int:
    """db_mode 1, the write failed: 503 with Retry-After, not Kamailio's 200 (see
    kamtool.proxy.usrloc; ``usrloc_ack_unstored`` keeps the 200). The contact stays in
    memory and is written when the database is back, like any pending change."""
    if exc is not None:
        log_db_error("usrloc write-through (503 sent, kept for the timer)", exc)
    retry = [("Retry-After", str(UNSTORED_RETRY_AFTER))]
    reply(ctx, 503, "Service Unavailable", retry, error=True)
    return -1


def _shared_wait(worker: Any, job: Any) -> Any:
    """``job()`` on the shared state's Redis thread; None when Redis is away (the local
    state answers, as during a database outage)."""
    try:
        return wait_db(job, worker=worker)
    except Exception:  # StateDown (logged once by the link), or a bad answer
        return None


def _shared_miss(ul: Any, aor: str) -> None:
    """Nothing local for ``aor``: a contact registered a moment ago on another node may
    not have reached this one yet; ask Redis."""
    shared: RemoteLocation | None = ul.shared
    if shared is not None and shared.up and in_route():
        found = _shared_wait(shared.link, partial(shared.read_aor, aor))
        if found:
            shared.merge_aor(aor, found)


def _db_down(parts: Any) -> bool:
    return parts.db is not None and parts.db.down


def lookup(table: str = "location", uri: str = "") -> int:
    """The bindings of the R-URI's user: 1 (the R-URI becomes the first contact and
    ``t_relay()`` forks to all, q-groups in series); -1 none, -2 none accepts the
    method, -3 error (the database). Outbound bindings whose flow is closed are left out
    (-1 when nothing else is left; ``KSR.kamtool.flow_failed()`` then says so: 430)."""
    ctx = state.ctx
    r = ctx.parts
    req = ctx.msg
    ul = r.usrloc
    ruri = field(req, "uri")  # parsed once: the user, the domain, sips:
    user = _uri_user(ruri) or ""
    aor = ul.aor_key(user, getattr(ruri, "host", None))
    fetched = False
    if ul.needs_fetch(aor):
        try:
            ul.prefetched(aor, wait_db(partial(ul.fetch, aor)))
            fetched = True
        except Exception as exc:
            return db_error(ctx, "lookup(location)", exc) * 3
    try:
        bindings = ul.lookup(aor)
    finally:
        if fetched:
            ul.prefetched(aor, None)
    if not bindings and ul.shared is not None:
        _shared_miss(ul, aor)
        bindings = ul.lookup(aor)
    if not bindings:
        return -1
    bit = METHOD_BITS.get(req.method)
    if bit is None:
        allowed = bindings
    else:
        allowed = [b for b in bindings if b.methods is None or b.methods & bit]
        if not allowed:
            return -2
    if any(b.reg_id and b.instance for b in allowed):  # outbound: live flows only
        chosen, dead = choose_flows(allowed, r.wire.tcp_alive)
        if not chosen:
            ctx.flow_failed = dead  # KSR.kamtool.flow_failed(): the route answers 430
            return -1
        spares = spare_flows(allowed, chosen, r.wire.tcp_alive)
        if spares:  # after a 430: KSR.kamtool.next_flow() in a failure route
            ctx.avps[SPARE_FLOWS] = spares
        allowed = chosen
    if getattr(ruri, "secure", False):
        # RFC 3261 16.5, RFC 5630 3.1.3: a sips: request only goes to sips: contacts
        # (TLS on every hop); Kamailio's lookup() does not check this
        allowed = [b for b in allowed if b.contact[:5].lower() == "sips:"]
        if not allowed:
            return -1
    groups: list[list[Any]] = []
    for b in allowed:
        target = r.codec.target_for_binding(b, r.wire.tcp_alive)
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
    ctx = state.ctx
    ul = ctx.parts.usrloc
    text = str(uri) if uri else ctx.msg.uri_text
    try:
        parsed = parse_uri(text)
    except ParseError:
        parsed = None
    user = getattr(parsed, "user", None)
    if not user:
        return -1
    aor = ul.aor_key(user, getattr(parsed, "host", None))
    if ul.needs_fetch(aor):
        try:
            rows = wait_db(partial(ul.fetch, aor))
        except Exception as exc:
            return db_error(ctx, "registered(location)", exc)
        return 1 if rows else -1
    if not ul.lookup(aor) and ul.shared is not None:
        _shared_miss(ul, aor)
    return 1 if ul.lookup(aor) else -1


def spare_flows_left() -> int:
    """1 when lookup() kept other flows of an instance it chose (RFC 5626 7), -1 not."""
    return 1 if state.ctx.avps.get(SPARE_FLOWS) else -1


def next_flow() -> int:
    """In a failure route: a branch to the next flow of the instance (after a 430 Flow
    Failed of its newest, RFC 5626 7); 1, or -1 when there is none."""
    ctx = state.ctx
    r = ctx.parts
    spares = ctx.avps.get(SPARE_FLOWS) or []
    while spares:
        target = r.codec.target_for_binding(spares.pop(0), r.wire.tcp_alive)
        if target is not None:
            ctx.new_targets = (ctx.new_targets or []) + [target]
            return 1
    return -1


def _aor_of(uri: str) -> str | None:
    """The usrloc key of ``uri``'s AoR, or None when it is no URI with a user."""
    try:
        parsed = parse_uri(str(uri))
    except ParseError:
        return None
    user = getattr(parsed, "user", None)
    return state.ctx.parts.usrloc.aor_key(user, getattr(parsed, "host", None)) if user else None


def unregister(table: str, uri: str, ruid: str = "") -> int:
    """registrar's unregister(): every contact of ``uri``'s AoR removed (1, also when
    there was none); with ``ruid`` only that contact (-3 when it is not there). -1 for an
    empty or bad URI or a table usrloc does not have."""
    ul = state.ctx.parts.usrloc
    aor = _aor_of(uri) if uri else None
    if str(table) != "location" or aor is None:
        return -1
    if ul.needs_fetch(aor):
        try:
            wait_db(partial(ul.fetch, aor))
        except Exception as exc:
            return db_error(state.ctx, "unregister(location)", exc)
    if not ruid:
        ul.remove(aor)
        return 1
    found = [b for b in ul.contacts_of(aor) if b.ruid == str(ruid)]
    if not found:
        return -3
    ul.remove_binding(found[0])
    return 1


def registrar_functions() -> dict[str, Any]:
    return dict(save=save, lookup=lookup, registered=registered,
                lookup_uri=lambda table, uri: lookup(table, uri),
                registered_uri=registered,
                unregister=lambda table, uri: unregister(table, uri),
                unregister_ruid=unregister)  # fmt: skip


# ------------------------------------------------------------------ alias_db


def alias_db_lookup(table: str = "dbaliases", flags: int = 0) -> int:
    """An R-URI user that is an alias becomes the user it stands for: 1; -1 otherwise."""
    ctx = state.ctx
    aliases = ctx.parts.aliases
    uri = field(ctx.msg, "uri")
    user = getattr(uri, "user", None)
    if aliases is None or not user:
        return -1
    try:
        found = wait_db(partial(aliases.query, user, getattr(uri, "host", None)))
    except Exception as exc:
        return db_error(ctx, "alias_db_lookup", exc)
    return 1 if aliases.apply(ctx.msg, found) else -1
