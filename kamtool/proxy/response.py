"""A reply that reached the proxy, after the script's ``reply_route``: to its
transaction (tm relays the best one upstream), else forwarded statelessly by the next
Via (a 2xx retransmission after the transaction ended ...), else dropped.

This is where a reply is matched to its transaction: :meth:`ReplyStep.route` calls
``tm.response``; a multi-process proxy forwards a reply tm does not know to the owner
of the transaction here.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

log = logging.getLogger(__name__)


class ReplyStep:
    """Routes replies (see module docstring)."""

    def __init__(self, tm: Any, codec: Any, wire: Any, nat: Any, myself: Any,
                 counters: Any) -> None:  # fmt: skip
        self.tm = tm
        self.codec = codec
        self.wire = wire
        self.nat = nat
        self.myself = myself
        self.counters = counters  # kamtool.proxy.sl.CoreCounters

    def route(self, resp: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        codec = self.codec
        c = self.counters
        via = codec.top_via(resp)
        if via is None or not self.myself.via_is_ours(via):
            c.drop_rpl.value += 1
            return
        if self.nat.absorb_reply(resp):  # the answer to a NAT keepalive
            return
        tm = self.tm
        local = tm.answers_local(resp)
        if tm.response(resp, endpoint, addr):
            # the replies to our own requests (dispatcher probes, dlg.end_dlg BYEs) and to
            # our CANCELs stop here: not forwarded, so not core:fwd_replies (as Kamailio)
            if not local and resp.cseq.method != "CANCEL":
                c.fwd_rpl.value += 1
            return
        # no transaction: forward statelessly by the next Via (2xx retransmissions ...)
        nxt = codec.second_via(resp)
        if nxt is None:
            c.drop_rpl.value += 1
            return
        host, port = nxt.response_address()
        if not _is_address(host):
            # a name with no received= is no Via we marked (we add received= to a named
            # sent-by, RFC 3261 18.2.1): a stray or forged reply, not worth a DNS query
            log.debug("reply not forwarded: next Via host %r is not an address", host)
            c.drop_rpl.value += 1
            return
        c.fwd_rpl.value += 1
        self.wire.send_to((nxt.transport.lower(), host, port), codec.strip_via(resp))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
