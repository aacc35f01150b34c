"""KSR's core functions (``KSR.is_INVITE()``, ``KSR.setflag()``, ``KSR.info()`` ...) and
``KSR.x`` (``exit``, ``drop``).

Types as Kamailio's KEMI exports them: the method tests, ``is_method_in``, ``is_myself*``,
the flag functions (a flag outside 0..31: False) and the setters (``setdsturi``,
``seturi``, ``force_rport`` ...) return Python booleans; the log functions 0.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.ksr.context import RouteExit, field, state
from kamtool.sip.errors import ParseError
from kamtool.sip.uri import SipURI, parse_uri

log = logging.getLogger("kamtool.route")

# is_method_in() letters, as Kamailio's core reads them
METHOD_LETTERS = {
    "I": "INVITE", "A": "ACK", "B": "BYE", "C": "CANCEL", "M": "MESSAGE", "R": "REGISTER",
    "O": "OPTIONS", "S": "SUBSCRIBE", "P": "PUBLISH", "N": "NOTIFY", "U": "UPDATE",
    "F": "INFO", "E": "PRACK", "L": "REFER", "K": "KDMQ", "G": "GET", "T": "POST",
    "V": "PUT", "D": "DELETE",
}  # fmt: skip
METHODS = (
    "INVITE ACK BYE CANCEL REGISTER OPTIONS MESSAGE SUBSCRIBE NOTIFY PUBLISH INFO PRACK "
    "UPDATE REFER KDMQ GET POST PUT DELETE"
).split()


def method_of(msg: Any) -> str:
    """``$rm``: the request's method, or the CSeq method of a reply."""
    if msg.is_request:
        return msg.method
    cseq = msg.cseq
    return cseq.method if cseq is not None else ""


def _method_test(name: str) -> Any:
    def test() -> bool:
        return method_of(state.ctx.msg) == name

    test.__name__ = f"is_{name}"
    test.__doc__ = f"True when the message is a {name} (a reply: its CSeq method is)."
    return test


def is_method_in(letters: str) -> bool:
    """True when the method is one of ``letters`` (``"IBSU"``: INVITE, BYE, SUBSCRIBE, UPDATE)."""
    method = method_of(state.ctx.msg)
    return any(METHOD_LETTERS.get(c.upper()) == method for c in letters)


def _check_self(host: str | None, port: int | None) -> bool:
    """Kamailio's check_self(): the host is a listen address, alias or served domain and
    the port (when given) one we listen on."""
    myself = state.ctx.parts.myself
    if not host:
        return False
    host = host.lower().strip("[]")
    names = myself.names
    if host not in names and (":" not in host or f"[{host}]" not in names):
        return False
    return not port or port in myself.ports


def _uri_is_myself(uri: Any) -> bool:
    return _check_self(getattr(uri, "host", None), getattr(uri, "port", None))


def is_myself(uri: str) -> bool:
    """True for a SIP URI (or a bare host/IP) of ours."""
    text = str(uri or "")
    if text[:4].lower() == "sip:" or text[:5].lower() == "sips:":
        try:
            return _uri_is_myself(parse_uri(text))
        except ParseError:
            return False
    return _check_self(text, None)


def is_myself_ruri() -> bool:
    msg = state.ctx.msg
    if not msg.is_request:
        return False
    try:
        uri = msg.uri
    except ParseError:
        return False
    return _check_self(getattr(uri, "host", None), getattr(uri, "port", None))


def is_myself_furi() -> bool:
    msg = state.ctx.msg
    return _uri_is_myself(field(field(msg, "from_"), "uri"))


def is_myself_turi() -> bool:
    msg = state.ctx.msg
    return _uri_is_myself(field(field(msg, "to"), "uri"))


def is_myself_duri() -> bool:
    du = state.ctx.dst_uri
    return bool(du) and is_myself(du)


def is_myself_srcip() -> bool:
    return _check_self(state.ctx.addr[0], None)



MAX_FLAG = 31  # Kamailio's message, branch and script flags: 0..31


def flag_ok(flag: Any) -> bool:
    """Kamailio's flag_in_range(): 0..31 (an error is logged for others)."""
    ok = 0 <= int(flag) <= MAX_FLAG
    if not ok:
        log.error("flag %s out of range (0..%d)", flag, MAX_FLAG)
    return ok


def setflag(flag: int) -> bool:
    if not flag_ok(flag):
        return False
    state.ctx.flags |= 1 << int(flag)
    return True


def resetflag(flag: int) -> bool:
    if not flag_ok(flag):
        return False
    state.ctx.flags &= ~(1 << int(flag))
    return True


def isflagset(flag: int) -> bool:
    return flag_ok(flag) and bool(state.ctx.flags & (1 << int(flag)))


def setbflag(flag: int) -> bool:
    if not flag_ok(flag):
        return False
    state.ctx.bflags |= 1 << int(flag)
    return True


def resetbflag(flag: int) -> bool:
    if not flag_ok(flag):
        return False
    state.ctx.bflags &= ~(1 << int(flag))
    return True


def isbflagset(flag: int) -> bool:
    return flag_ok(flag) and bool(state.ctx.bflags & (1 << int(flag)))


def setbiflag(flag: int, branch: int) -> bool:
    return setbflag(flag)


def resetbiflag(flag: int, branch: int) -> bool:
    return resetbflag(flag)


def isbiflagset(flag: int, branch: int) -> bool:
    return isbflagset(flag)


def force_rport() -> bool:
    """rport on the sender's Via: replies go back to the source port (RFC 3581)."""
    ctx = state.ctx
    via = field(ctx.msg, "top_via")
    if via is not None and via.rport is None:
        ctx.msg.replace_top_via(via.with_params(received=ctx.addr[0], rport=ctx.addr[1]))
    return True


def set_reply_no_connect() -> bool:
    # kamtool never opens a connection to send a reply (it answers on the one the
    # request came on): nothing to change
    return True


def set_forward_no_connect() -> bool:
    return True


def isdsturiset() -> bool:
    return bool(state.ctx.dst_uri)


def setdsturi(uri: str) -> bool:
    state.ctx.dst_uri = str(uri)
    return True


def resetdsturi() -> bool:
    state.ctx.dst_uri = None
    return True


def seturi(uri: str) -> bool:
    state.ctx.msg.uri = str(uri)
    return True


def _set_uri_part(**changes: Any) -> bool:
    msg = state.ctx.msg
    uri = field(msg, "uri")
    if not isinstance(uri, SipURI):
        return False
    msg.uri = uri.replace(**changes)
    return True


def setuser(user: str) -> bool:
    return _set_uri_part(user=str(user))


def sethost(host: str) -> bool:
    return _set_uri_part(host=str(host))


def set_drop() -> int:
    """Do not send the message (a reply in reply_route, a request's branch); 0 as
    Kamailio's function without a result gives."""
    state.ctx.drop = True
    return 0


def drop() -> None:
    """``KSR.x.drop()``: set_drop and stop the route."""
    set_drop()
    raise RouteExit()


def exit_route() -> None:
    """``KSR.x.exit()``: stop the route here."""
    raise RouteExit()


def _logger(level: int) -> Any:
    def write(message: str) -> int:
        log.log(level, "%s", str(message).rstrip("\n"))
        return 0  # (Kamailio's log functions have no result: app_python3 gives 0)

    return write


def log_msg(level: str, message: str) -> int:
    """``KSR.log("info", "...")``."""
    levels = {"dbg": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO,
              "warn": logging.WARNING, "err": logging.ERROR, "crit": logging.CRITICAL}  # fmt: skip
    return _logger(levels.get(str(level), logging.INFO))(message)


def functions() -> dict[str, Any]:
    """The core functions, by their KSR names."""
    out: dict[str, Any] = {f"is_{m}": _method_test(m) for m in METHODS}
    out.update(
        is_method_in=is_method_in, is_myself=is_myself, is_myself_ruri=is_myself_ruri,
        is_myself_furi=is_myself_furi, is_myself_turi=is_myself_turi,
        is_myself_duri=is_myself_duri, is_myself_srcip=is_myself_srcip,
        setflag=setflag, resetflag=resetflag, isflagset=isflagset, setbflag=setbflag,
        resetbflag=resetbflag, isbflagset=isbflagset, setbiflag=setbiflag,
        isbiflagset=isbiflagset, resetbiflag=resetbiflag, force_rport=force_rport,
        set_reply_no_connect=set_reply_no_connect,
        set_forward_no_connect=set_forward_no_connect, isdsturiset=isdsturiset,
        setdsturi=setdsturi, resetdsturi=resetdsturi, seturi=seturi, setuser=setuser,
        sethost=sethost, set_drop=set_drop, drop=drop, log=log_msg,
        dbg=_logger(logging.DEBUG), info=_logger(logging.INFO), notice=_logger(logging.INFO),
        warn=_logger(logging.WARNING), err=_logger(logging.ERROR),
        crit=_logger(logging.CRITICAL),
    )  # fmt: skip
    return out


def x_functions() -> dict[str, Any]:
    """``KSR.x``."""
    return {"exit": exit_route, "drop": drop}
