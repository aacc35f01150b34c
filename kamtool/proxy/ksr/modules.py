"""The KSR modules over the proxy's other state: ``permissions``, ``pike``, ``htable``,
``nathelper``, ``dispatcher``, ``dialog`` (more in ``dialog_more``), ``acc``, ``domain``,
``rtpproxy``/``rtpengine`` (not configured: -1) and ``KSR.kamtool`` (kamtool's own, for
its default route); and the table of every state module (:func:`misc_functions`). Return
codes are Kamailio's.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.ksr.auth import auth_db_functions, auth_functions
from kamtool.proxy.ksr.context import field, request_key, state
from kamtool.proxy.ksr.dispatcher import dispatcher_functions
from kamtool.proxy.ksr.htable import htable_functions
from kamtool.proxy.ksr.htable_iter import htable_iter_functions
from kamtool.proxy.ksr.permissions import permissions_functions
from kamtool.proxy.ksr.registrar import (
    alias_db_lookup,
    next_flow,
    registrar_functions,
    spare_flows_left,
)
from kamtool.proxy.nat import alias_contact, contact_hostports
from kamtool.proxy.pike import Verdict
from kamtool.sip.errors import ParseError
from kamtool.sip.nat import nat_uac_test as _nat_uac_test
from kamtool.sip.nat import parse_alias

log = logging.getLogger("kamtool.route")

# ------------------------------------------------------------------ pike


_VERDICTS = {Verdict.OK: 1, Verdict.BLOCKED: -1, Verdict.NEW_BLOCK: -2}


def pike_check_req() -> int:
    """1 below the limit; -1 (already blocked) or -2 (blocked now) over it."""
    ctx = state.ctx
    pike = ctx.parts.pike
    if pike is None:
        return 1
    return _VERDICTS[pike.check(ctx.addr[0])]


# ------------------------------------------------------------------ nathelper


def nat_uac_test(flags: int) -> int:
    """1 when the sender looks NATed by the tests ``flags`` names (nathelper's)."""
    ctx = state.ctx
    msg = ctx.msg
    try:
        via = msg.top_via
    except ParseError:
        return -1
    if via is None:
        return -1
    nated = _nat_uac_test(int(flags), source=ctx.addr, via_host=via.host, via_port=via.port,
                          contacts=contact_hostports(msg))  # fmt: skip
    ctx.nated = ctx.nated or nated
    return 1 if nated else -1


def fix_nated_register() -> int:
    """The REGISTER's source becomes the ``received`` of its contacts (save() stores it)."""
    ctx = state.ctx
    if ctx.msg.method != "REGISTER":
        return -1
    ctx.fix_register = True
    return 1


def set_contact_alias() -> int:
    """``;alias=ip~port~proto`` on the Contact: of a request, its source; of a reply in an
    onreply route, the address it came from."""
    ctx = state.ctx
    return 1 if alias_contact(ctx.msg, ctx.endpoint.proto, ctx.addr) else -1


def handle_ruri_alias() -> int:
    """An R-URI with ``;alias=``: the parameter goes and ``$du`` becomes that address.
    A malformed alias is a bad request (400), as a malformed header is."""
    ctx = state.ctx
    uri = field(ctx.msg, "uri")
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


def fix_nated_contact() -> int:
    """kamtool marks the Contact with ``;alias=`` (set_contact_alias: kamtool.proxy.nat says
    why) where Kamailio rewrites its host and port. Kamailio's codes: 1 for any Contact,
    NATed or not; -1 without one, or on a second call for the same message."""
    ctx = state.ctx
    try:
        contacts = ctx.msg.contacts
    except ParseError:
        return -1
    if not contacts or getattr(contacts[0].uri, "host", None) is None:
        return -1
    if ctx.avps.get("\0fixed_contact"):
        return -1
    ctx.avps["\0fixed_contact"] = True
    set_contact_alias()
    return 1


def nathelper_functions() -> dict[str, Any]:
    return dict(nat_uac_test=nat_uac_test, fix_nated_register=fix_nated_register,
                set_contact_alias=set_contact_alias, handle_ruri_alias=handle_ruri_alias,
                add_contact_alias=add_contact_alias,
                fix_nated_contact=fix_nated_contact)  # fmt: skip


# ------------------------------------------------------------------ dialog, acc


def dlg_manage() -> int:
    state.ctx.dialog = True
    return 1


def dialog_functions() -> dict[str, Any]:
    return dict(dlg_manage=dlg_manage,  # (set_dlg_profile & co: kamtool.proxy.ksr.dialog_more)
                is_known_dlg=lambda: 1 if state.ctx.loose else -1)  # fmt: skip


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
    domains = state.ctx.parts.domains
    return 1 if host and domains is not None and domains.is_local(str(host)) else -1


def domain_functions() -> dict[str, Any]:
    return dict(
        is_from_local=lambda: _domain_local(getattr(field(field(state.ctx.msg, "from_"), "uri"),
                                                    "host", None)),
        is_uri_host_local=lambda: _domain_local(getattr(field(state.ctx.msg, "uri"),
                                                        "host", None)),
        is_domain_local=_domain_local,
    )  # fmt: skip


# ------------------------------------------------------------------ kamtool's own


def setting(name: str) -> Any:
    """A value of the proxy's configuration (``[proxy]`` in kamtool.toml)."""
    return getattr(state.ctx.parts.config, str(name))


def settings() -> Any:
    """The proxy's configuration (frozen: a script may keep it)."""
    return state.ctx.parts.config


def call_limits() -> int:
    """The configured call limits (max_calls, max_calls_per_caller/_callee) on the
    profiles this INVITE joins: 1 when it was refused (and answered), -1 otherwise."""
    ctx = state.ctx
    r = ctx.parts
    refused = r.call_limits.over(ctx.msg, ctx.endpoint, ctx.addr, ctx.profiles)
    if refused:
        ctx.replied = True
    return 1 if refused else -1


def early_trying() -> int:
    """An INVITE whose route waits for the database is answered 100 first."""
    state.ctx.early_trying = True
    return 1


def cancel_waiting() -> int:
    """A CANCEL for an INVITE whose route waits for the database: that INVITE gets 487
    when its answer comes (1); -1 when no such INVITE waits."""
    ctx = state.ctx
    r = ctx.parts
    key = request_key(r.codec, ctx.msg, ctx.addr, "INVITE")
    invite = ctx.engine.processing.get(key)
    if invite is None or invite.replied:
        return -1
    invite.cancelled = True
    return 1


def refuse_new() -> int:
    """Overload protection (``[proxy] overload``): while the proxy is overloaded a new
    initial request gets a stateless 503 with Retry-After (1); -1 otherwise."""
    ctx = state.ctx
    r = ctx.parts
    shed = r.overload
    msg = ctx.msg
    if shed is None or not shed.overloaded or msg.method == "ACK" or field(msg, "to_tag"):
        return -1
    r.sl.reply(msg, ctx.endpoint, ctx.addr, 503, "Service Unavailable", shed.reject_headers())
    ctx.replied = True
    return 1


def flow_failed() -> int:
    """1 when ``lookup()`` or ``loose_route()`` found the UA's flows closed: the request
    gets ``430 Flow Failed`` (RFC 5626 5.3, 11.5); -1 otherwise."""
    return 1 if state.ctx.flow_failed else -1


def kamtool_functions() -> dict[str, Any]:
    """``KSR.kamtool``: what kamtool's default route needs beyond Kamailio's modules."""
    return dict(setting=setting, settings=settings, call_limits=call_limits,
                early_trying=early_trying, cancel_waiting=cancel_waiting,
                refuse_new=refuse_new, flow_failed=flow_failed, next_flow=next_flow,
                spare_flows=spare_flows_left)  # fmt: skip


def misc_functions() -> dict[str, dict[str, Any]]:
    """The modules over the proxy's state, by KSR name."""
    return {
        "registrar": registrar_functions(),
        "auth": auth_functions(),
        "auth_db": auth_db_functions(),
        "alias_db": {"lookup": alias_db_lookup},
        "permissions": permissions_functions(),
        "pike": {"pike_check_req": pike_check_req},
        "htable": {**htable_functions(), **htable_iter_functions()},  # (ksr.htable, _iter)
        "nathelper": nathelper_functions(),
        "dispatcher": dispatcher_functions(),
        "dialog": dialog_functions(),
        "acc": acc_functions(),
        "domain": domain_functions(),
        "kamtool": kamtool_functions(),
        "rtpproxy": media_functions("rtpproxy"),
        "rtpengine": media_functions("rtpengine"),
    }
