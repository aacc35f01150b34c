"""Topology hiding in ``kamtool serve`` (``[proxy] topoh = true``): Kamailio's topoh
module, which works on the raw messages the core receives and sends, whatever the route
does. :class:`TopohHooks` does the same at the transports: every message received is
parsed and handed to :meth:`~kamtool.sip.topoh.TopoHiding.received` before the core sees
it, and every message sent goes through :meth:`~kamtool.sip.topoh.TopoHiding.sent` on its
way to the socket (retransmissions too: tm keeps the unmasked bytes, masking is
deterministic, so each copy is the same). The masks themselves are sans-IO in
:mod:`kamtool.sip.topoh`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kamtool.sip.errors import ParseError
from kamtool.sip.parser import is_keepalive, parse_message
from kamtool.sip.topoh import TopoHiding

__all__ = ["TopohHooks", "hooks_for"]

log = logging.getLogger(__name__)

Sink = Callable[[Any, Any, tuple[str, int]], None]


class TopohHooks:
    """The two hooks over one :class:`TopoHiding` and the proxy's ``myself`` test."""

    def __init__(self, th: TopoHiding, own: Callable[[Any], bool]) -> None:
        self.th = th
        self.own = own

    def inbound(self, sink: Sink) -> Sink:
        """``sink`` seeing every message unmasked (bytes of a datagram parsed first; a
        message that does not parse goes on as it came, for the core to answer)."""

        def receive(data: Any, endpoint: Any, addr: tuple[str, int]) -> None:
            msg = data
            if isinstance(data, bytes | bytearray):
                try:
                    msg = parse_message(bytes(data))
                except ParseError:
                    sink(data, endpoint, addr)
                    return
            if not isinstance(msg, ParseError):
                try:
                    self.th.received(msg, self.own)
                except ParseError as exc:  # a header topoh must read is broken
                    log.info("topoh: %s:%s: %s", addr[0], addr[1], exc)
            sink(msg, endpoint, addr)

        return receive

    def outbound(self, data: bytes) -> bytes:
        """``data`` as it must leave: masked for the side it goes to."""
        if is_keepalive(data):
            return data
        try:
            msg = parse_message(data)
            self.th.sent(msg, self.own)
        except ParseError as exc:
            log.info("topoh: not masked, %s", exc)
            return data
        return msg.to_bytes()


def hooks_for(cfg: Any, own: Callable[[Any], bool]) -> TopohHooks:
    """The hooks of ``cfg``'s topoh settings (``own``: the proxy's ``is_myself``): the
    wiring wraps the sink the core receives through in :meth:`TopohHooks.inbound` and
    gives the transports :meth:`TopohHooks.outbound` as the filter of every send."""
    th = TopoHiding(cfg.topoh_mask_key, mask_ip=cfg.topoh_mask_ip,
                    mask_callid=cfg.topoh_mask_callid)  # fmt: skip
    return TopohHooks(th, own)
