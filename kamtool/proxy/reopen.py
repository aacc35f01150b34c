"""When a stream transport fails under a transaction (RFC 3261 §18): a response whose
connection has closed goes over a new connection (§18.2.2), and a request whose connection
cannot be opened fails its branch at once as a 503 would (§16.9), instead of waiting for
fr_timer and answering 408.

Below the transaction layer and the transports alike: :mod:`kamtool.proxy.transport` asks
:func:`response_address` where to reopen, and the wiring hands :func:`fail_branches` to
the transports as a ``connect_failed`` listener.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.sip.errors import ParseError
from kamtool.sip.parser import parse_message

log = logging.getLogger(__name__)

_DEFAULT_PORT = {"tls": 5061}


def response_address(data: bytes, proto: str) -> tuple[str, int] | None:
    """Where a response goes when the connection its request came on has closed (RFC
    3261 §18.2.2): the ``received`` address of its top Via (else the sent-by host) and the
    sent-by port (the transport's default without one). Not ``rport``: RFC 3581 §4 uses
    it for unreliable transports only, and a stream's source port is not a listener.
    None for anything but a response with a readable Via."""
    if not data.startswith(b"SIP/2.0 "):
        return None
    try:
        via = parse_message(data, eager=False).top_via
    except ParseError:
        return None
    if via is None or not via.host:
        return None
    host = via.params.get("received") or via.host
    return host, via.port or _DEFAULT_PORT.get(proto, 5060)


def fail_branches(tm: Any, proto: str, addr: tuple[str, int]) -> int:
    """A connection to ``addr`` over ``proto`` could not be opened: every branch of ``tm``
    (a :class:`~kamtool.proxy.tm.TransactionLayer`) still waiting for a response from
    there ends as if it had received a 503 (RFC 3261 §16.9), so the best response is
    chosen now (a lone 503 goes upstream as 500, §16.7 step 6). Kamailio 5.6 answers
    such a request 477 "Unfortunately error on sending to next hop occurred", twice with
    the reference cfg (tm's reply, then the cfg's sl_reply_error()). How many failed."""
    dest = (proto, addr[0], addr[1])
    failed = [c for c in tm.client.values() if c.target.dest == dest and not c.replied]
    now = tm.timers.now()
    for ctx in failed:
        if ctx.done:
            continue
        log.info("branch %s: no connection to %s:%s:%s, taken as 503", ctx.branch, *dest)
        # the sip layer ends the client transaction (no Timer B/F left behind); the
        # proxy's own steps (tm.py is kept to its size) take the 503 as the branch's final
        tm._run(tm.sip.transport_error(ctx.key, now, "connect failed"))
        resp = tm.codec.reply_message(ctx.request, 503, "Service Unavailable", [])
        tm._branch_final(ctx, 503, resp)
    return len(failed)
