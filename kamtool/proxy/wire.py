"""The proxy's way out: which of our sockets a message leaves from, and sending bytes.

Every step that sends (tm's branches and retransmissions, stateless ACKs, replies routed
by Via, dispatcher probes, NAT keepalives, uac registrations) sends through this object;
it holds the :class:`~kamtool.proxy.transport.Transports` the wiring gave it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class Wire:
    """Sending through ``transports`` (a :class:`~kamtool.proxy.transport.Transports`, or
    anything with its ``send``/``socket_for``/``listen_named``/``force``/``alive``)."""

    __slots__ = ("transports",)

    def __init__(self, transports: Any) -> None:
        self.transports = transports

    def local_socket(self, dest: tuple[str, str, int], socket: str | None = None) -> Any:
        """The listener a message to ``dest`` leaves from (its Via and Record-Route name
        it): ``socket`` (a contact's registered socket, force_send_socket) when it is one
        of ours of the destination's protocol and family, remembered for the destination
        so retransmissions follow; else the transports' choice (family, mhomed)."""
        t = self.transports
        forced = t.listen_named(socket)
        if (
            forced is not None
            and forced.proto == dest[0]
            and (":" in forced.host) == (":" in dest[1])
        ):
            t.force(dest, forced)
            return forced
        return t.socket_for(*dest)

    def force_named(self, dest: tuple[str, str, int], socket: str | None) -> None:
        """Send to ``dest`` from the listener ``socket`` names (a double Record-Route's
        second entry), when it is one of ours of the destination's protocol."""
        lst = self.transports.listen_named(socket)
        if lst is not None and lst.proto == dest[0]:
            self.transports.force(dest, lst)

    def send_to(self, dest: tuple[str, str, int], data: bytes) -> None:
        """Send bytes to ``(proto, host, port)``."""
        if not self.transports.send(dest[0], (dest[1], dest[2]), data):
            log.info("no %s transport to reach %s:%s", *dest)

    def tcp_alive(self, addr: tuple[str, int]) -> bool:
        """A stream connection to ``addr`` is open (a TCP contact is reachable)."""
        return self.transports.alive(addr)
