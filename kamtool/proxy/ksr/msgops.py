"""The KSR modules that read and change the message in hand: ``sl``, ``hdr``,
``textops``/``textopsx``, ``siputils``, ``corex``, ``maxfwd``, ``sanity``."""

from __future__ import annotations

import re
from typing import Any

from kamtool.proxy.codec import ParseFailure
from kamtool.proxy.ksr.context import MsgContext, field, state
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import TelURI

# ------------------------------------------------------------------ sl


def reply(ctx: MsgContext, code: int, reason: str, headers: Any = None, *, error: bool = False,
          stateful: bool = False) -> int:  # fmt: skip
    """Answer the request in hand: statelessly, or on its transaction (``stateful`` and
    one exists). Never an ACK (nothing answers an ACK)."""
    msg = ctx.msg
    if not msg.is_request or msg.method == "ACK":
        return -1
    parts = ctx.parts
    code = int(code)
    if ctx.reply_lumps:  # append_to_reply(): headers for every reply the route makes
        headers = [*(headers or ()), *ctx.reply_lumps]
    if stateful and ctx.stx is not None:
        parts.tm.local_reply(ctx.stx, code, str(reason), headers)
    else:
        parts.sl.reply(msg, ctx.endpoint, ctx.addr, code, str(reason), headers, error=error)
    if code >= 200:
        ctx.replied = True
    return 1


def sl_send_reply(code: int, reason: str) -> int:
    return reply(state.ctx, code, reason)


def send_reply(code: int, reason: str) -> int:
    """Statefully when the request has a transaction (t_newtran), else stateless."""
    return reply(state.ctx, code, reason, stateful=True)


def sl_reply_error() -> int:
    """The answer to an error of ours: 500 (unless the route already answered)."""
    ctx = state.ctx
    if ctx.replied:
        return 1
    return reply(ctx, 500, "Server Internal Error", error=True, stateful=True)


def sl_functions() -> dict[str, Any]:
    return dict(sl_send_reply=sl_send_reply, send_reply=send_reply,
                sl_reply_error=sl_reply_error,
                send_reply_error=sl_reply_error)  # fmt: skip


# (KSR.hdr: kamtool.proxy.ksr.hdr; KSR.textops: ksr.textops; KSR.textopsx: ksr.textopsx)


# ------------------------------------------------------------------ siputils


def has_totag() -> int:
    return 1 if field(state.ctx.msg, "to_tag") else -1


def is_first_hop() -> int:
    msg = state.ctx.msg
    vias = field(msg, "vias") or []
    if msg.is_request:
        return 1 if len(vias) <= 1 else -1
    return 1 if len(vias) <= 2 else -1


def is_request() -> int:
    return 1 if state.ctx.msg.is_request else -1


def is_reply() -> int:
    return -1 if state.ctx.msg.is_request else 1


def is_e164(number: str) -> int:
    return 1 if re.fullmatch(r"\+[1-9][0-9]{1,14}", str(number)) else -1


def is_uri_user_e164(uri: str) -> int:
    m = re.match(r"(?:sips?|tel):([^@;]+)", str(uri))
    return is_e164(m.group(1)) if m else -1


def uri_param_value(name: str, value: str) -> int:
    uri = field(state.ctx.msg, "uri")
    params = getattr(uri, "params", {}) or {}
    return 1 if params.get(str(name)) == str(value) else -1


def is_supported(option: str) -> int:
    """1 when a ``Supported`` header of the message names ``option`` (path, outbound ...)."""
    from kamtool.proxy.outbound import option_tags

    return 1 if str(option).lower() in option_tags(state.ctx.msg, "supported") else -1


def siputils_functions() -> dict[str, Any]:
    return dict(has_totag=has_totag, is_first_hop=is_first_hop, is_request=is_request,
                is_reply=is_reply, is_e164=is_e164, is_uri_user_e164=is_uri_user_e164,
                uri_param_value=uri_param_value,
                is_supported=is_supported)  # fmt: skip


# ------------------------------------------------------------------ corex


def has_ruri_user() -> int:
    msg = state.ctx.msg
    if not msg.is_request:
        return -1
    try:
        uri = msg.uri
    except ParseError:
        return -1
    if isinstance(uri, TelURI):
        return 1 if uri.number else -1
    return 1 if getattr(uri, "user", None) else -1


def has_user_agent() -> int:
    return 1 if "user-agent" in state.ctx.msg.headers else -1


def corex_functions() -> dict[str, Any]:
    return dict(has_ruri_user=has_ruri_user, has_user_agent=has_user_agent)


# ------------------------------------------------------------------ maxfwd, sanity


def process_maxfwd(limit: int) -> int:
    """-1 when Max-Forwards is 0 (the route answers 483); a request without one gets
    ``limit`` on the way out, one with more than ``maxfwd_max_limit`` (maxfwd's
    max_limit, 70) leaves with that. (The decrement happens as the request is forwarded.)"""
    ctx = state.ctx
    msg = ctx.msg
    mf = msg.max_forwards
    if mf is None:
        msg.headers.add("Max-Forwards", str(int(limit) + 1))  # forward() takes one off
        return 2
    cap = ctx.parts.config.maxfwd_max_limit
    if mf > cap:
        msg.headers.set("Max-Forwards", str(cap + 1))
    return -1 if mf <= 0 else 1


def is_maxfwd_lt(limit: int) -> int:
    mf = state.ctx.msg.max_forwards
    return 1 if mf is not None and mf < int(limit) else -1


def sanity_check(msg_checks: int = 0, uri_checks: int = 0) -> int:
    """The checks a proxy makes before forwarding; a request that fails them is answered
    (400 with the reason, 416, 420) as Kamailio's sanity does, and gets -1."""
    ctx = state.ctx
    if not ctx.msg.is_request:
        return 1
    try:
        ctx.parts.codec.sanity(ctx.msg)
        if int(msg_checks) & 1024:  # SANITY_PARSE_URIS: R-URI, From and To parse
            msg = ctx.msg
            _ = msg.uri, msg.from_, msg.to
    except ParseFailure as exc:
        ctx.parts.counters.err_req.value += 1
        reply(ctx, exc.status, exc.reason, exc.headers)
        return -1
    except ParseError as exc:
        ctx.parts.counters.err_req.value += 1
        failure = ParseFailure(exc)
        reply(ctx, failure.status, failure.reason, failure.headers)
        return -1
    return 1


def sanity_functions() -> dict[str, Any]:
    return dict(sanity_check=sanity_check, sanity_check_defaults=lambda: sanity_check())


def maxfwd_functions() -> dict[str, Any]:
    return dict(process_maxfwd=process_maxfwd, is_maxfwd_lt=is_maxfwd_lt)
