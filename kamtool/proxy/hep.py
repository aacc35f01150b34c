"""The proxy as a HEP agent: every SIP message received and sent, mirrored to Homer or
``kamtool trace``, as Kamailio's siptrace does with ``trace_mode=1`` and ``hep_mode_on``.

Semantics follow siptrace: a received message is traced with its source and the socket it
arrived on; a sent one with the socket it leaves from (our listener's address, also for
TCP connections we opened) and its destination; one HEPv3 datagram per message, with the
capture id (``hep_capture_id``) and auth key (``hep_auth_key``); nothing is sent while
tracing is off (``siptrace.status off``, ``hep_trace_on = false``). Destinations are the
configured ``hep`` plus those ``kamtool trace`` adds over RPC (``siptrace.dest_add``).

The transports call :meth:`HepAgent.tap` only while tracing is on and a destination is
known (the agent installs and removes itself as ``Transports.tap``), so an idle agent
costs nothing per message. Sending is a non-blocking ``sendto`` on the agent's own UDP
socket; a full buffer or an unreachable collector drops the copy (counted), never the call.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from kamtool.errors import ConfigError
from kamtool.sip.hep import IPPROTO, HepError, hep3_datagram

log = logging.getLogger(__name__)

MAX_DESTINATIONS = 16  # dynamic ones (siptrace.dest_add): bounded


def parse_hep_uri(text: str) -> tuple[str, int]:
    """``udp:IP:PORT`` (also ``sip:IP:PORT``, Kamailio's duplicate_uri form, or
    ``IP:PORT``) → (ip, port); ConfigError otherwise. HEP goes over UDP only."""
    from kamtool.core.trace import parse_listen
    from kamtool.errors import BadInput

    spec = text.strip()
    if spec.lower().startswith("sip:"):
        spec = "udp:" + spec[4:]
    try:
        host, port = parse_listen(spec, what="hep")
    except BadInput as exc:
        raise ConfigError(exc.message, hint="udp:IP:PORT") from exc
    if port == 0:
        raise ConfigError(f"hep {text!r}: a port is required (udp:IP:PORT)")
    return host, port


class HepAgent:
    """Mirrors the proxy's SIP traffic as HEPv3 (see module docstring)."""

    def __init__(
        self,
        destination: str | None = None,
        *,
        capture_id: int = 1,
        auth_key: str | None = None,
        trace_on: bool = True,
        transports: Any = None,
    ) -> None:
        self.capture_id = capture_id
        self.auth_key = auth_key.encode() if auth_key else None
        self.configured: list[tuple[str, int]] = []
        if destination:
            self.configured.append(parse_hep_uri(destination))
        self.added: list[tuple[str, int]] = []
        self.trace_on = trace_on
        self.sent = 0
        self.errors = 0
        self._transports = transports  # where the trace taps in (attach() moves it)
        self._socks: dict[int, socket.socket] = {}
        self._dests: tuple[tuple[socket.socket, tuple[str, int]], ...] = ()
        self._update()

    # ---------------------------------------------------------------- control

    def attach(self, transports: Any) -> None:
        """Install on ``transports`` (a :class:`~kamtool.proxy.transport.Transports`)."""
        self._transports = transports
        self._update()

    def set_on(self, on: bool) -> None:
        """``siptrace.status on|off``."""
        self.trace_on = on
        self._update()

    def add(self, uri: str) -> None:
        """Also send to ``uri`` (``siptrace.dest_add``); ConfigError when malformed."""
        dest = parse_hep_uri(uri)
        if dest not in self.added and dest not in self.configured:
            if len(self.added) >= MAX_DESTINATIONS:
                raise ConfigError(f"at most {MAX_DESTINATIONS} trace destinations")
            self.added.append(dest)
        self._update()

    def remove(self, uri: str) -> bool:
        """Stop sending to ``uri`` (one added over RPC); False when it was not there."""
        dest = parse_hep_uri(uri)
        if dest not in self.added:
            return False
        self.added.remove(dest)
        self._update()
        return True

    @property
    def destinations(self) -> list[str]:
        return [f"udp:{_host(h)}:{p}" for h, p in (*self.configured, *self.added)]

    def _update(self) -> None:
        dests = []
        for host, port in (*self.configured, *self.added):
            dests.append((self._socket(socket.AF_INET6 if ":" in host else socket.AF_INET),
                          (host, port)))  # fmt: skip
        self._dests = tuple(dests)
        if self._transports is not None:
            active = self.trace_on and bool(self._dests)
            self._transports.tap = self.tap if active else None

    def _socket(self, family: int) -> socket.socket:
        sock = self._socks.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._socks[family] = sock
        return sock

    def close(self) -> None:
        if self._transports is not None:
            self._transports.tap = None
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        self._dests = ()

    # ---------------------------------------------------------------- the hook

    def tap(self, data: bytes, proto: str, src: tuple[str, int], dst: tuple[str, int]) -> None:
        """Mirror one message that went from ``src`` to ``dst`` over ``proto``."""
        if not data[:1].isalpha():
            # not SIP: CRLF keep-alives, STUN, the overload guard's probes (a NUL first);
            # Kamailio drops those before its receive event too
            return
        now = time.time()
        sec = int(now)
        try:
            datagram = hep3_datagram(data, src[0], src[1], dst[0], dst[1], sec,
                                     int((now - sec) * 1_000_000), IPPROTO.get(proto, 17),
                                     self.capture_id, self.auth_key)  # fmt: skip
        except HepError as exc:  # a message too big for one datagram, a mixed family
            self.errors += 1
            log.debug("hep: not mirrored: %s", exc)
            return
        for sock, dest in self._dests:
            try:
                sock.sendto(datagram, dest)
                self.sent += 1
            except OSError:
                self.errors += 1


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip
