"""More of ``KSR.tm``: per-transaction settings, what the branches got, and ``t_relay()``
to a destination named in the call.

Some of tm's settings have nothing to change in kamtool and are accepted as they are, so
that scripts written for Kamailio run: ``t_set_max_lifetime`` (a transaction here ends by
its fr timers), ``t_set_retr`` (RFC 3261's T1/T2 are the proxy's), ``t_set_disable_failover``
(kamtool does not fail over between the DNS addresses of one destination), ``t_save_lumps``
and ``t_use_uac_headers`` (a branch is always built from the request as the routes left it).
"""

from __future__ import annotations

import re
from typing import Any

from kamtool.proxy.ksr.context import BRANCH, ONREPLY, state

_PROTOS = ("udp", "tcp", "tls", "sctp", "ws", "wss")
# t_relay_to_proxy's "[proto:]host[:port]" (an IPv6 host in brackets)
_PROXY = re.compile(r"^(?:(udp|tcp|tls|sctp|ws|wss):)?(\[[^\]]+\]|[^:;]+)(?::(\d+))?$", re.I)


def t_set_fr_inv(fr_inv_ms: int) -> int:
    """The fr_inv_timer alone (t_set_fr(fr_inv, 0))."""
    from kamtool.proxy.ksr.tm import t_set_fr

    return t_set_fr(int(fr_inv_ms), 0)


def t_reset_fr() -> int:
    """Back to the proxy's fr_timer and fr_inv_timer for the branches sent from now on."""
    ctx = state.ctx
    ctx.fr_timer = ctx.fr_inv_timer = None
    if ctx.stx is not None:
        ctx.stx.fr_timer = ctx.stx.fr_inv_timer = None
    return 1


def t_set_auto_inv_100(on: int) -> int:
    """0: the INVITE gets no 100 Trying when it is relayed (tm's auto_inv_100 for this
    transaction); a retransmission of the INVITE is still answered with one."""
    state.ctx.trying_sent = not int(on)
    return 1


def _accepted(*_: Any) -> int:
    return 1


def _branches() -> list[Any]:
    stx = state.ctx.stx
    return list(stx.branches) if stx is not None else []


def t_any_timeout() -> int:
    """1 when a branch of the transaction timed out (no final reply came)."""
    return 1 if any(b.done and b.final is None for b in _branches()) else -1


def t_any_replied() -> int:
    """1 when a branch of the transaction received a reply."""
    return 1 if any(b.replied for b in _branches()) else -1


def t_grep_status(code: int) -> int:
    """1 when a branch received a reply with status ``code``."""
    code = int(code)
    return 1 if any(b.status == code and b.replied for b in _branches()) else -1


def t_get_branch_index() -> int:
    """The branch a branch or onreply route runs for; -1 elsewhere."""
    ctx = state.ctx
    return ctx.branch_idx if ctx.kind in (BRANCH, ONREPLY) else -1


def _relay_to(uri: str) -> int:
    from kamtool.proxy.ksr.tm import t_relay

    state.ctx.dst_uri = uri
    return t_relay()


def _uri(proto: str | None, host: str, port: int | str | None) -> str:
    uri = f"sip:{host}" + (f":{port}" if port else "")
    return uri + (f";transport={proto.lower()}" if proto and proto.lower() != "udp" else "")


def t_relay_to_proxy(proxy: str) -> int:
    """t_relay() to ``[proto:]host[:port]`` instead of $du / the R-URI; -1 when unreadable."""
    m = _PROXY.match(str(proxy).strip())
    if m is None:
        return -1
    return _relay_to(_uri(m.group(1), m.group(2), m.group(3)))


def t_relay_to_proxy_flags(proxy: str, flags: int) -> int:
    return t_relay_to_proxy(proxy)  # (tm's flags: no-auto-100, no-DNS-failover: see above)


def t_relay_to_proto_addr(proto: str, host: str, port: int) -> int:
    if str(proto).lower() not in _PROTOS:
        return -1
    return _relay_to(_uri(str(proto), str(host), int(port)))


def t_relay_to_proto(proto: str) -> int:
    """t_relay() over ``proto`` to where the request goes anyway ($du, else the R-URI)."""
    from kamtool.proxy.ksr.tm import t_relay

    ctx = state.ctx
    proto = str(proto).lower()
    if proto not in _PROTOS:
        return -1
    base = re.sub(r";transport=[^;>]*", "", ctx.dst_uri or ctx.msg.uri_text, flags=re.I)
    ctx.dst_uri = base if proto == "udp" else f"{base};transport={proto}"
    return t_relay()


def t_relay_to_flags(flags: int) -> int:
    from kamtool.proxy.ksr.tm import t_relay

    if int(flags) & 0x01:  # 1: no automatic 100 Trying
        t_set_auto_inv_100(0)
    return t_relay()


def tm_settings_functions() -> dict[str, Any]:
    accepted = ("t_set_max_lifetime", "t_reset_max_lifetime", "t_set_retr", "t_reset_retr",
                "t_set_disable_failover", "t_save_lumps", "t_use_uac_headers",
                "t_set_no_e2e_cancel_reason")  # fmt: skip
    return dict(
        dict.fromkeys(accepted, _accepted),
        t_set_fr_inv=t_set_fr_inv, t_reset_fr=t_reset_fr, t_set_auto_inv_100=t_set_auto_inv_100,
        t_any_timeout=t_any_timeout, t_any_replied=t_any_replied, t_grep_status=t_grep_status,
        t_get_branch_index=t_get_branch_index,
        t_relay_to_proxy=t_relay_to_proxy, t_relay_to_proxy_flags=t_relay_to_proxy_flags,
        t_relay_to_proto_addr=t_relay_to_proto_addr, t_relay_to_proto=t_relay_to_proto,
        t_relay_to_flags=t_relay_to_flags,
    )  # fmt: skip
