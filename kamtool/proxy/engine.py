"""The proxy's receiving end: every message from the transports comes in here.

``receive(data, endpoint, addr)`` parses it (a malformed request gets its 400, as
Kamailio's sanity answers), counts it in ``core:*``, and hands a request to the route
script's request route and a reply to its reply route (:class:`~kamtool.proxy.ksr.engine.
ScriptEngine`), which call the step modules through ``KSR``. A route that raises gets
:meth:`Engine.route_failed`'s answer and the proxy goes on.

A REGISTER from datagram to location row, module by module (issue #11 asks for <= ~8):
``transport`` (UdpEndpoint.datagram_received) -> ``engine`` (Engine.receive) ->
``ksr.engine`` (ScriptEngine.request) -> ``ksr.context`` (the route greenlet) ->
``ksr.engine`` (_run_request) -> ``routes/default.py`` (ksr_request_route, registrar) ->
``ksr.registrar`` (KSR.registrar.save) -> ``registrar`` (Registrar.save) -> ``usrloc``
(LocationStore.save): 8 hops. Calls that return before the next hop (``codec.parse``,
the script's other KSR calls, the reply through ``sl``) are not on the way to the row.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.codec import ParseFailure
from kamtool.sip.errors import ParseError

log = logging.getLogger(__name__)


class Engine:
    """Receives every message of the proxy and runs the route script for it."""

    def __init__(self, parts: Any, script: Any) -> None:
        self.parts = parts  # kamtool.proxy.parts.Parts
        self.script = script  # kamtool.proxy.ksr.engine.ScriptEngine
        self.codec = parts.codec
        self.sl = parts.sl
        self.counters = parts.counters
        self.accepting = True  # False while shutting down: new requests get 503

    def receive(self, data: bytes, endpoint: Any, addr: tuple[str, int]) -> None:
        """Transport sink: one SIP message from ``addr`` on ``endpoint``."""
        c = self.counters
        try:
            if isinstance(data, ParseError):
                # one bad message the stream framer cut out whole: answered as the same
                # datagram would be (its partial request), not dropped in silence
                raise ParseFailure(data, data.request if data.respond else None)
            msg = self.codec.parse(data)
        except ParseFailure as exc:
            self._malformed(exc, endpoint, addr)
            return
        if msg.is_request:
            c.rcv_req.value += 1
            counter = c.by_method.get(msg.method)
            if counter is not None:
                counter.value += 1
            try:
                if msg.method == "ACK" and self._acks_our_stateless_reply(msg):
                    return
                if not self.accepting and msg.method != "ACK" and not self.codec.to_tag(msg):
                    self.sl.reply(msg, endpoint, addr, 503, "Shutting Down")
                    return
                self.script.request(msg, endpoint, addr)
            except Exception as exc:
                self.route_failed(msg, endpoint, addr, exc)
        else:
            try:
                cseq = msg.cseq
            except ParseError:
                cseq = None  # still a received reply; dropped below
            c.rcv_replies.count(msg.status, cseq.method if cseq else None)
            try:
                self.script.response(msg, endpoint, addr)
            except ParseError as exc:
                c.drop_rpl.value += 1
                log.debug("dropping a malformed reply from %s:%s: %s", addr[0], addr[1], exc)

    def _malformed(self, exc: ParseFailure, endpoint: Any, addr: tuple[str, int]) -> None:
        """A message the parser refused: a request gets the parser's status (unless its
        source is banned: no 400s for a flood of garbage either), the rest is dropped."""
        c = self.counters
        c.bad_msg.value += 1
        if exc.request is None or not exc.respond:
            log.debug("dropping malformed message from %s:%s: %s", addr[0], addr[1], exc)
            return
        if self.parts.flood.banned(None, addr):
            return
        c.rcv_req.value += 1
        c.err_req.value += 1
        self.sl.malformed(exc.request, endpoint, addr, exc)

    def _acks_our_stateless_reply(self, ack: Any) -> bool:
        """The ACK of a reply sl sent (a 407): taken here, before the route, as Kamailio's
        sl filters it; a route would relay one that carries a preloaded Route to us on to
        its R-URI."""
        try:
            tag = self.codec.to_tag(ack)
        except ParseError:
            return False
        if not self.codec.our_stateless_tag(tag):
            return False
        self.sl.acks.value += 1
        return True

    def route_failed(self, msg: Any, endpoint: Any, addr: tuple[str, int], exc: Exception) -> None:
        """Routing ``msg`` raised: its 400 or 500 (see StatelessReplies.route_failed)."""
        self.sl.route_failed(msg, endpoint, addr, exc)
