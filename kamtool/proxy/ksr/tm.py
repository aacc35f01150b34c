"""``KSR.tm``, ``KSR.tmx`` and ``KSR.rr``: transactions, relaying and record-routing.

``t_relay()`` forwards the request in hand statefully: to ``$du`` when set, else to the
R-URI, or to every binding ``registrar.lookup()`` found (q-groups in series); in a failure
route it adds the new branch to the transaction. The transaction gets the route's flags
(acc), the tm routes armed with ``t_on_branch``/``t_on_reply``/``t_on_failure``, a
Record-Route when ``rr.record_route()`` was called, and a dialog after ``dlg_manage()``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from kamtool.core import posix_regex
from kamtool.proxy import outbound
from kamtool.proxy.dest import dest_of_uri
from kamtool.proxy.ksr import uac_replace
from kamtool.proxy.ksr.context import (
    BRANCH,
    DLG_VARS,
    FAILURE,
    ONREPLY,
    REPLY,
    MsgContext,
    field,
    state,
)
from kamtool.proxy.transaction import Target
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import parse_uri

log = logging.getLogger("kamtool.route")

# ------------------------------------------------------------------ transactions


def t_newtran() -> int:
    """The request's server transaction: 1 (made or there), 0 when the request is a
    retransmission tm has answered."""
    ctx = state.ctx
    if ctx.stx is not None:
        return 1
    if ctx.match() is None:
        return 0
    r = ctx.parts
    msg = ctx.msg
    ctx.stx = r.tm.new_server(
        msg, ctx.endpoint, ctx.addr, r.codec.reply_address(msg, ctx.endpoint, ctx.addr)
    )
    return 1


def t_check_trans() -> int:
    """CANCEL: 1 when its INVITE transaction is known, else -1. Other requests: 0 for
    a retransmission (answered with the last reply) or the ACK of a negative reply
    (absorbed), 1 when the request already has a transaction, else -1."""
    ctx = state.ctx
    if ctx.kind != "request":
        return 1 if ctx.stx is not None else -1
    m = ctx.match()
    if ctx.msg.method == "CANCEL":
        if m is None:
            return 0
        cancels = getattr(m, "cancels", None)
        stx = ctx.parts.tm.lookup(cancels) if cancels is not None else None
        return 1 if stx is not None else -1
    if m is None:
        if ctx.msg.method == "ACK":  # of a negative reply of ours: absorbed
            ctx.parts.sl.acks.value += 1
        return 0
    return 1 if ctx.stx is not None else -1


def t_reply(code: int, reason: str) -> int:
    """A stateful reply (the transaction is made first when there is none); -1 once the
    transaction has its final reply (tm sends no second one)."""
    ctx = state.ctx
    from kamtool.proxy.ksr.msgops import reply

    if ctx.stx is not None and ctx.stx.completed:
        return -1
    if ctx.kind == FAILURE:
        return reply(ctx, code, reason, stateful=True)
    rc = t_newtran()
    if rc <= 0:
        return rc
    return reply(ctx, code, reason, stateful=True)


def _target(ctx: MsgContext) -> Target | None:
    """Where a single-branch relay goes: ``$du``, else the R-URI."""
    text = ctx.dst_uri or ctx.msg.uri_text
    try:
        dest = dest_of_uri(parse_uri(text))
    except ParseError:
        return None
    return Target(ctx.msg.uri_text, dest) if dest is not None else None


def _forward_stateless(ctx: MsgContext) -> int:
    """An ACK (of a 2xx) goes on statelessly, as tm does with it."""
    r = ctx.parts
    target = _target(ctx)
    if target is None:
        return -1
    if ctx.uac_edits:  # (its own uac edits: loose_route() restored From/To)
        uac_replace.apply(ctx.msg, ctx.uac_edits)
    data = r.branches.stateless(ctx.msg, target)
    r.counters.fwd_req.value += 1
    ctx.forwarded = True
    r.wire.send_to(target.dest, data)
    return 1


def _relay_cancel(ctx: MsgContext) -> int:
    r = ctx.parts
    m = ctx.match()
    if m is None:
        return 0
    cancels = getattr(m, "cancels", None)
    stx = r.tm.lookup(cancels) if cancels is not None else None
    if stx is None:
        return -1
    # tm's e2e CANCEL: "canceling" while a branch waits for its final response, else
    # (the INVITE answered, the CANCEL crossed the final reply) "ok -- no more pending
    # branches"
    pending = not stx.completed and any(not b.done for b in stx.branches)
    text = "canceling" if pending else "ok -- no more pending branches"
    r.sl.reply(ctx.msg, ctx.endpoint, ctx.addr, 200, text)
    ctx.replied = True
    r.tm.cancel(stx, tuple(("Reason", v) for v in ctx.msg.headers.get_lines("Reason")))
    return 1


def t_relay() -> int:
    """Forward the request statefully (see module docstring): 1 on success, 0 when it
    was a retransmission tm answered, -1 when it cannot be forwarded."""
    ctx = state.ctx
    if ctx.kind == FAILURE:
        # the destination set lookup() or t_next_contacts() made here (all at once, as tm
        # forks a failure route's branches), else $du or the R-URI
        targets = [t for group in ctx.targets for t in group] if ctx.targets else None
        ctx.targets = None
        if targets is None:
            target = _target(ctx)
            if target is None:
                return -1
            targets = [target]
        ctx.new_targets = (ctx.new_targets or []) + targets
        return 1
    msg = ctx.msg
    method = msg.method
    if method == "CANCEL":
        return _relay_cancel(ctx)
    if method == "ACK":
        if ctx.match() is None:
            # the ACK of a negative final reply of ours (a 404 after lookup): its
            # transaction takes it and stops retransmitting; it goes no further, even when
            # loose_route() took a preloaded Route to us (as tm's t_relay absorbs it)
            return 0
        if field(msg, "to_tag"):
            _in_dialog(ctx)
        return _forward_stateless(ctx)
    groups = ctx.targets
    if not groups:
        target = _target(ctx)
        if target is None:
            return -1
        groups = [[target]]
    rc = t_newtran()
    if rc <= 0:
        return rc
    _arm(ctx, ctx.stx)
    r = ctx.parts
    r.counters.fwd_req.value += 1
    ctx.forwarded = True
    r.tm.relay(ctx.stx, groups, trying_sent=ctx.trying_sent)
    return 1


def _arm(ctx: MsgContext, stx: Any) -> None:
    """Give the transaction what the route set up: flags, routes, dialog, Record-Route."""
    r = ctx.parts
    engine = ctx.engine
    msg = ctx.msg
    stx.flags |= ctx.flags
    _timers(ctx, stx)
    in_dialog = bool(field(msg, "to_tag"))
    refresh = _in_dialog(ctx) if in_dialog else None
    dialog = None
    steps = r.dialog_steps
    if ctx.dialog and msg.method == "INVITE" and not in_dialog:
        dialog = steps.create(msg, ctx.endpoint, stx, ctx.profiles or [])
        stx.ctx = dialog
        _adopt_pending(ctx, dialog)
    if ctx.record_route and not in_dialog:
        local = ctx.endpoint.listen
        rr = r.codec.record_route(local, msg.from_tag, dialog.did if dialog else None)
        msg.prepend_record_route(rr[:-1] + ctx.rr_params + ">" if ctx.rr_params else rr)
    stx.build = engine.branch_builder(ctx, in_dialog)
    if ctx.uac_edits:  # uac's From/To: on what leaves, as Kamailio's lumps
        stx.build = uac_replace.with_edits(stx.build, ctx.uac_edits)
    stx.branch_route = ctx.on_branch
    if ctx.record_route and ctx.rr_token and not in_dialog:  # RFC 5626 5.3: ;ob flow token
        stx.build = outbound.with_flow_rr(stx.build, ctx.rr_token, r.myself.is_myself)
    on_response = steps.on_response if dialog is not None else refresh
    if ctx.on_reply:
        on_response = engine.onreply_hook(ctx.on_reply, on_response, ctx)
    if ctx.uac_replies:  # uac restores the replies' From/To first (its TMCB_RESPONSE_IN)
        on_response = uac_replace.reply_hook(ctx.uac_replies, on_response)
    stx.on_response = on_response
    if dialog is not None:
        stx.on_final = steps.on_final
    if ctx.on_failure:
        stx.on_failure = engine.failure_hook(ctx.on_failure, ctx)


def _adopt_pending(ctx: MsgContext, dialog: Any) -> None:
    """What the route gave the dialog before it existed (KSR.dialog's var_sets and
    dlg_set_timeout on the initial INVITE) becomes the dialog's."""
    pending = ctx.avps_.get(DLG_VARS) if ctx.avps_ else None
    if pending:
        dialog.vars.update(pending)
        ctx.avps[DLG_VARS] = dialog.vars  # $dlg_var goes on reading the same values
    if ctx.dlg_lifetime is not None:
        ctx.parts.dialogs.set_lifetime(dialog, ctx.dlg_lifetime)


def _in_dialog(ctx: MsgContext) -> Any:
    """What the dialog module and rr do for a request inside a dialog of ours: the
    dialog's state (ACK, BYE, CSeq), and the socket our second Route names. Returns the
    response hook of a target refresh (DialogSteps.target_refresh) or None."""
    steps = ctx.parts.dialog_steps
    dialog = steps.in_dialog(ctx.msg, ctx.loose)
    return steps.target_refresh(ctx.msg, dialog) if dialog is not None else None


def t_on_branch(name: str) -> int:
    state.ctx.on_branch = str(name)
    return 1


def t_on_reply(name: str) -> int:
    state.ctx.on_reply = str(name)
    return 1


def t_on_failure(name: str) -> int:
    state.ctx.on_failure = str(name)
    return 1


def t_is_set(target: str) -> int:
    ctx = state.ctx
    value = {"branch_route": ctx.on_branch, "onreply_route": ctx.on_reply,
             "failure_route": ctx.on_failure}.get(str(target))  # fmt: skip
    return 1 if value else -1


def t_is_canceled() -> int:
    stx = state.ctx.stx
    return 1 if stx is not None and stx.canceled else -1


def t_is_expired() -> int:
    return -1


def t_set_fr(fr_inv_ms: int, fr_ms: int = 0) -> int:
    """This transaction's fr_inv_timer (a ringing INVITE branch's wait for a final reply)
    and fr_timer (a branch's wait for any reply), in milliseconds, as Kamailio's tm: 0
    leaves that timer as it is (the proxy's, or an earlier t_set_fr's); -1 for a negative
    value. The branches sent afterwards (``t_relay()``, a failure route's new branch)
    use them, and, as Kamailio's, branches already running (after ``t_relay()``, in a
    reply route) restart the timer they are in with the new value."""
    fr_inv, fr = int(fr_inv_ms), int(fr_ms)
    if fr_inv < 0 or fr < 0:
        return -1
    ctx = state.ctx
    if fr_inv:
        ctx.fr_inv_timer = fr_inv / 1000
    if fr:
        ctx.fr_timer = fr / 1000
    if ctx.stx is not None:  # after t_relay()/t_newtran(), or in a reply/failure route
        _timers(ctx, ctx.stx)
        if ctx.stx.branches:
            ctx.parts.tm.retime(ctx.stx, fr / 1000 if fr else None,
                                fr_inv / 1000 if fr_inv else None)  # fmt: skip
    return 1


def _timers(ctx: MsgContext, stx: Any) -> None:
    """t_set_fr's values onto the transaction (what is unset stays the proxy's)."""
    if ctx.fr_inv_timer is not None:
        stx.fr_inv_timer = ctx.fr_inv_timer
    if ctx.fr_timer is not None:
        stx.fr_timer = ctx.fr_timer


def t_branch_timeout() -> int:
    """In a failure route: 1 when the branch it runs for timed out."""
    branch = state.ctx.failed_branch
    return 1 if branch is not None and branch.final is None else -1


def t_branch_replied() -> int:
    """In a failure route: 1 when the branch it runs for got any reply."""
    branch = state.ctx.failed_branch
    return 1 if branch is not None and branch.replied else -1


def t_check_status(regex: str) -> int:
    """1 when the extended POSIX expression ``regex`` is found in the reply's code: tm
    searches it (regexec, unanchored: "86" matches 486), it does not match from the start."""
    ctx = state.ctx
    code = ctx.reply_code if ctx.kind == FAILURE else getattr(ctx.msg, "status", 0)
    if not code:
        return -1
    try:
        return 1 if posix_regex.search(str(regex), str(code), posix_regex.KAMAILIO_ERE) else -1
    except posix_regex.PosixRegexError as exc:
        log.error("t_check_status: bad regular expression %r: %s", regex, exc)
        return -1


def tm_functions() -> dict[str, Any]:
    return dict(t_relay=t_relay, t_newtran=t_newtran, t_check_trans=t_check_trans,
                t_reply=t_reply, t_send_reply=t_reply, t_on_branch=t_on_branch,
                t_on_reply=t_on_reply, t_on_failure=t_on_failure, t_is_set=t_is_set,
                t_is_canceled=t_is_canceled, t_is_expired=t_is_expired, t_set_fr=t_set_fr,
                t_branch_timeout=t_branch_timeout, t_branch_replied=t_branch_replied,
                t_check_status=t_check_status)  # fmt: skip


# ------------------------------------------------------------------ tmx


def t_precheck_trans() -> int:
    """1 when another copy of this request is being routed right now (its route waits
    for the database): the caller retransmitted; -1 otherwise (this copy is marked)."""
    ctx = state.ctx
    return 1 if ctx.engine.precheck(ctx) else -1


def tmx_functions() -> dict[str, Any]:
    return dict(
        t_precheck_trans=t_precheck_trans,
        t_is_branch_route=lambda: 1 if state.ctx.kind == BRANCH else -1,
        t_is_failure_route=lambda: 1 if state.ctx.kind == FAILURE else -1,
        t_is_reply_route=lambda: 1 if state.ctx.kind in (REPLY, ONREPLY) else -1,
        t_is_request_route=lambda: 1 if state.ctx.kind == "request" else -1,
    )


# ------------------------------------------------------------------ rr


def record_route() -> int:
    """Record-Route on the request (added as it is relayed, with its dialog's did). A
    dialog-forming request straight from a UA with ``;ob`` in its Contact gets the flow
    token of its connection in our Record-Route (RFC 5626 5.3, the outbound module's)."""
    ctx = state.ctx
    ctx.record_route = True
    msg = ctx.msg
    if not ctx.rr_token and outbound.outbound_dialog(msg) and outbound.first_hop(msg):
        ctx.rr_token = outbound.tokens(ctx.parts).encode(outbound.flow_of(ctx.endpoint, ctx.addr))
    return 1


def record_route_params(params: str) -> int:
    add_rr_param(params)
    return record_route()


def add_rr_param(param: str) -> int:
    ctx = state.ctx
    text = str(param)
    ctx.rr_params += text if text.startswith(";") else ";" + text
    return 1


def loose_route() -> int:
    """Kamailio's loose_route(): -1 without a Route; else our Route entries are taken
    off, ``$du`` names the next Route when one is left, and 1. A Route of ours with a
    flow token (RFC 5626) sends the request over that flow: -2 when the token is not
    ours (Kamailio's "tampered": 403), -3 when the flow is closed (kamtool's: 430,
    ``KSR.kamtool.flow_failed()``); a ``received=`` of our Path is followed likewise."""
    ctx = state.ctx
    r = ctx.parts
    msg = ctx.msg
    top = field(msg, "routes")
    if not top:
        return -1
    # after a strict router our Record-Route URI is the R-URI (codec.loose_route)
    strict = bool(field(msg, "to_tag")) and r.myself.is_myself(msg.uri)
    head = msg.uri if strict else top[0].uri
    ours = strict or r.myself.is_myself(head)
    params = dict(getattr(head, "params", {}) or {}) if ours else {}
    user = getattr(head, "user", None) if ours and not strict else None
    routed = r.codec.loose_route(msg, r.myself.is_myself)
    if routed is None:
        return -1
    ctx.loose = routed
    ctx.route_params = params
    if ours:
        uac_replace.on_loose_route(ctx)
    rest = msg.routes
    ctx.dst_uri = str(rest[0].uri) if rest else None
    if user or "received" in params:
        return route_flow(ctx, user, params)
    return 1


def route_flow(ctx: MsgContext, user: str | None, params: dict[str, Any]) -> int:
    """loose_route() on a Route of ours with a flow token or ``received=``: ``$du`` is
    the flow (from its socket), unless the request came over that very flow (the UA's
    own in-dialog request: it goes on along the route set)."""
    r = ctx.parts
    flow = outbound.tokens(r).decode(user) if user else None
    if user and flow is None:
        if "ob" in params:
            return -2  # a flow token we did not make
        return 1  # a user part of some other meaning: ordinary loose routing
    if flow is None:
        try:
            dest = dest_of_uri(parse_uri(unquote(params["received"] or "")))
        except ParseError:
            return 1
        if dest is None:
            return 1
        flow = outbound.Flow(*dest, ctx.endpoint.listen.socket_str)
    if outbound.flow_of(ctx.endpoint, ctx.addr).dest == flow.dest:
        return 1
    if flow.proto in outbound.CONNECTED and not r.wire.tcp_alive((flow.host, flow.port)):
        ctx.flow_failed = True
        return -3
    r.wire.force_named(flow.dest, flow.socket)
    ctx.dst_uri = flow.uri
    if user:
        ctx.rr_token = user  # a dialog it starts is record-routed with the same flow
    return 1


def check_route_param(param: str) -> int:
    name, _, value = str(param).lstrip(";").partition("=")
    params = state.ctx.route_params or {}
    if name not in params:
        return -1
    return 1 if not value or params[name] == value else -1


def is_direction(direction: str) -> int:
    ctx = state.ctx
    ftag = (ctx.route_params or {}).get("ftag")
    if ftag is None:
        return -1
    downstream = ftag == field(ctx.msg, "from_tag")
    return 1 if downstream == (str(direction) == "downstream") else -1


def loose_route_preloaded() -> int:
    """loose_route() for an initial request only (a Route set the UA preloaded): -1 for
    a request inside a dialog."""
    return -1 if field(state.ctx.msg, "to_tag") else loose_route()


def next_hop_route() -> int:
    """1 when a Route header is left to follow (after loose_route())."""
    return 1 if field(state.ctx.msg, "routes") else -1


def rr_functions() -> dict[str, Any]:
    return dict(record_route=record_route, record_route_params=record_route_params,
                loose_route_preloaded=loose_route_preloaded, next_hop_route=next_hop_route,
                loose_route_mode=lambda mode: loose_route(),
                add_rr_param=add_rr_param, loose_route=loose_route,
                check_route_param=check_route_param, is_direction=is_direction,
                remove_record_route=lambda: 1)  # fmt: skip
