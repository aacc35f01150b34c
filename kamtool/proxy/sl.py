"""Stateless replies (Kamailio's ``sl`` module) and the core counters every step bumps.

``sl_send_reply``: the reply goes back where RFC 3261 18.2.2 says (rport/received), with a
To tag like Kamailio's ``<32hex>.<8hex>``, counted in ``sl:*_replies`` as Kamailio counts.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.codec import ParseFailure
from kamtool.proxy.stats import ReceivedReplies
from kamtool.proxy.tm import TRYING
from kamtool.sip.errors import ParseError
from kamtool.sip.parser import MALFORMED_REQUEST_LINE

log = logging.getLogger(__name__)


class CoreCounters:
    """``core:*`` statistics bumped on the hot path (``c.value += 1``)."""

    __slots__ = ("bad_msg", "by_method", "drop_rpl", "drop_req", "err_rpl", "err_req",
                 "fwd_rpl", "fwd_req", "rcv_replies", "rcv_req", "unsupported")  # fmt: skip

    def __init__(self, stats: Any) -> None:
        c = stats.counter
        self.rcv_req = c("core", "rcv_requests")
        self.rcv_replies = ReceivedReplies(stats)
        self.fwd_req = c("core", "fwd_requests")
        self.fwd_rpl = c("core", "fwd_replies")
        self.drop_req = c("core", "drop_requests")
        self.drop_rpl = c("core", "drop_replies")
        self.err_req = c("core", "err_requests")
        self.err_rpl = c("core", "err_replies")
        self.bad_msg = c("core", "bad_msg_hdr")
        self.by_method = {
            m: c("core", f"rcv_requests_{m.lower()}")
            for m in (
                "ACK BYE CANCEL INFO INVITE MESSAGE NOTIFY OPTIONS PRACK PUBLISH REFER "
                "REGISTER SUBSCRIBE UPDATE"
            ).split()
        }
        self.unsupported = c("core", "unsupported_methods")


class StatelessReplies:
    """``sl_send_reply`` / ``sl_reply_error`` and the ``sl`` statistics."""

    def __init__(self, codec: Any, stats: Any, counters: CoreCounters) -> None:
        self.codec = codec
        self.counters = counters
        c = stats.counter
        self.by_code = {
            k: c("sl", f"{k}_replies")
            for k in ("200", "202", "300", "301", "302", "400", "401", "403", "404", "407")
            + ("408", "483", "500")
        }
        self.by_class = {k: c("sl", f"{k}xx_replies") for k in range(1, 7)}
        self.other = c("sl", "xxx_replies")  # codes outside 100-699
        self.sent = c("sl", "sent_replies")
        self.errors = c("sl", "sent_err_replies")
        self.acks = c("sl", "received_ACKs")

    def reply(
        self,
        request: Any,
        endpoint: Any,
        addr: tuple[str, int],
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | None = None,
        *,
        error: bool = False,
    ) -> None:
        """Send a stateless reply to ``request``; ``error``: the answer to a failure of
        our own (sl_reply_error, counted in sl:sent_err_replies too)."""
        codec = self.codec
        data = codec.local_reply(request, status, reason, headers or [], stateless=True)
        endpoint.send(data, codec.reply_address(request, endpoint, addr))
        self.sent.value += 1
        # as Kamailio's sl: a code with its own counter is not counted in its class
        # (sl:4xx_replies are the 4xx other than 400, 401, 403 ...), so the two add up
        counter = self.by_code.get(str(status)) or self.by_class.get(status // 100, self.other)
        counter.value += 1
        if error:
            self.errors.value += 1

    def trying(self, request: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """100 Trying (tm's text) to an INVITE that waits for the database: stateless,
        no To tag (RFC 3261 8.2.6.2), counted in sl:1xx_replies."""
        self.reply(request, endpoint, addr, 100, TRYING)

    def malformed(self, req: Any, endpoint: Any, addr: tuple[str, int], failure: Any) -> None:
        """Answer a malformed request with its status (``failure``: a ParseFailure),
        except an ACK (never answered, RFC 3261 17.1.1.3; a malformed one may say so in
        its request line, or in its CSeq when its request line is unreadable) and one
        whose Via would send the reply to the socket it came in on (it would come back to
        us as a response, to be relayed on down its other Vias: a forged or looped
        request)."""
        if _says_ack(req, failure) or self.codec.answers_itself(req, endpoint, addr):
            log.debug("not answering a malformed %s from %s:%s", req.method, *addr)
            return
        try:
            self.reply(req, endpoint, addr, failure.status, failure.reason, failure.headers)
        except Exception:  # what the parser kept of it is not enough to answer
            log.debug("cannot answer a malformed request from %s:%s", *addr)

    def route_failed(self, msg: Any, endpoint: Any, addr: tuple[str, int], exc: Exception) -> None:
        """Routing ``msg`` raised: a header parsed lazily was bad (its 400), or a bug
        (500, logged with the traceback); the proxy keeps serving either way."""
        if isinstance(exc, ParseFailure | ParseError):
            self.counters.err_req.value += 1
            self.malformed(msg, endpoint, addr, exc if isinstance(exc, ParseFailure)
                           else ParseFailure(exc))  # fmt: skip
            return
        log.error("error routing %s from %s:%s", msg.method, addr[0], addr[1], exc_info=exc)
        if msg.method != "ACK":
            try:
                self.reply(msg, endpoint, addr, 500, "Server Internal Error", error=True)
            except Exception:
                pass


def _says_ack(request: Any, failure: Any) -> bool:
    """The request line says ACK, or it is unreadable and the CSeq says ACK (a request
    line that reads, INVITE with ``CSeq: 1 ACK``, is an INVITE: it gets its 400)."""
    if request.method == "ACK":
        return True
    if getattr(failure, "reason", "") != MALFORMED_REQUEST_LINE:
        return False
    try:
        cseq = request.cseq
    except ParseError:
        return False
    return cseq is not None and cseq.method == "ACK"
