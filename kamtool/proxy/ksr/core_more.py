"""More of KSR's core functions: the transport and address-family tests (``KSR.is_UDP()``,
``is_WSX``, ``is_IPv6``, ``is_proto("tw")``), ``is_method("INVITE|BYE")``, the script
flags (``setsflag``), ``is_src_port``/``is_dst_port``, ``add_local_rport`` (accepted, no
effect), and ``KSR.kex``.

Return types as Kamailio 5.6's KEMI exports them (all booleans here; ``KSR.kex`` ints).
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.ksr.context import state
from kamtool.proxy.ksr.core import flag_ok, method_of

_SFLAGS = [0]  # the script flags: global to the process, as Kamailio's are (per worker)

# is_proto()'s letters, as Kamailio's core reads them (case does not matter)
PROTO_LETTERS = {"u": "udp", "t": "tcp", "e": "tls", "s": "sctp", "v": "ws", "w": "wss"}


def _proto() -> str:
    return str(getattr(state.ctx.endpoint, "proto", "udp")).lower()


def _is(*protos: str) -> Any:
    def test() -> bool:
        return _proto() in protos

    test.__name__ = "is_" + "_".join(protos)
    test.__doc__ = f"True when the message came over {' or '.join(protos)}."
    return test


def is_proto(letters: str) -> bool:
    """True when the transport is one of ``letters``: u udp, t tcp, e tls, s sctp, v ws,
    w wss."""
    proto = _proto()
    return any(PROTO_LETTERS.get(c) == proto for c in str(letters).lower())


def is_ipv6() -> bool:
    """True when the message came from an IPv6 address."""
    return ":" in str(state.ctx.addr[0])


def is_ipv4() -> bool:
    return not is_ipv6()


def is_method(methods: str) -> bool:
    """True when the method (of a reply: its CSeq's) is ``methods`` or one of the
    ``|``-separated list; case does not matter."""
    method = method_of(state.ctx.msg).upper()
    return method in {m.strip().upper() for m in str(methods).split("|")}


def setsflag(flag: int) -> bool:
    """Set a script flag (kept across messages: a process-wide variable)."""
    if not flag_ok(flag):
        return False
    _SFLAGS[0] |= 1 << int(flag)
    return True


def resetsflag(flag: int) -> bool:
    if not flag_ok(flag):
        return False
    _SFLAGS[0] &= ~(1 << int(flag))
    return True


def issflagset(flag: int) -> bool:
    return flag_ok(flag) and bool(_SFLAGS[0] & (1 << int(flag)))


def is_src_port(port: int) -> bool:
    return state.ctx.addr[1] == int(port)


def is_dst_port(port: int) -> bool:
    local = getattr(state.ctx.endpoint, "listen", None)
    return getattr(local, "port", None) == int(port)


def add_local_rport() -> bool:
    """Accepted for Kamailio's scripts; kamtool's own Via carries no ``;rport`` (its
    replies come back to the port the request left from anyway)."""
    return True


def functions() -> dict[str, Any]:
    """These core functions by their KSR names."""
    return dict(
        is_UDP=_is("udp"), is_TCP=_is("tcp"), is_TLS=_is("tls"), is_SCTP=_is("sctp"),
        is_WS=_is("ws"), is_WSS=_is("wss"), is_WSX=_is("ws", "wss"), is_proto=is_proto,
        is_IPv4=is_ipv4, is_IPv6=is_ipv6, is_method=is_method, setsflag=setsflag,
        resetsflag=resetsflag, issflagset=issflagset, is_src_port=is_src_port,
        is_dst_port=is_dst_port, add_local_rport=add_local_rport,
    )  # fmt: skip


def _setdebug(level: int) -> int:
    """``KSR.kex.setdebug``: this process's log level, by Kamailio's numbers (-3 alert ..
    3 debug)."""
    levels = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR,
              0: logging.WARNING, 1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}  # fmt: skip
    lvl = int(level)
    logging.getLogger("kamtool.route").setLevel(levels[max(-3, min(3, lvl))])
    return 1


def _resetdebug() -> int:
    logging.getLogger("kamtool.route").setLevel(logging.NOTSET)  # the global level again
    return 1


def kex_functions() -> dict[str, Any]:
    """``KSR.kex``: what Kamailio 5.6's kex exports to KEMI."""
    return dict(setdebug=_setdebug, resetdebug=_resetdebug)
