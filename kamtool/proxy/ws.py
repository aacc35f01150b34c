"""SIP over WebSocket (RFC 7118): the server side of ``ws:`` and ``wss:`` listeners.

The HTTP upgrade, framing, fragments, ping/pong and the closing handshake are
``wsproto``'s (a sans-IO library by the h11 authors); this module adds what SIP needs:

- the upgrade must offer the ``sip`` subprotocol (RFC 7118 section 4.1), else 400;
- an ``Origin`` allow-list (browsers send Origin; a page from elsewhere must not reach
  the proxy with its users' cookies and certificates), else 403;
- each complete WebSocket message is one SIP message (RFC 7118 section 5.2), parsed and
  handed to the core's sink like a TCP message; fragments are joined first and a
  message over :attr:`WsPolicy.max_message` closes the connection with 1009;
- SIP goes out as text frames (what Kamailio sends; a browser stack reads either);
- a WebSocket is a TCP connection under :mod:`kamtool.proxy.tcplimits` (admitted, timed
  and evicted with the others), and what it sends goes through the transports' hooks
  (topoh/topos, the HEP tap) like any other message.

A :class:`WsConnection` has the endpoint interface of
:class:`~kamtool.proxy.transport.TcpConnection` (``proto``, ``listen``, ``peer``,
``send``, ``close``), so replies and requests to a ``;transport=ws`` contact go back over
the browser's open connection. :class:`WsRegistry` numbers the open connections for the
``ws.dump`` and ``ws.close`` RPCs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from kamtool.proxy.tls_accept import serve_tls
from kamtool.proxy.ws_registry import KAMAILIO_STAT_NAMES, STAT_NAMES, WsRegistry
from kamtool.sip.errors import ParseError
from kamtool.sip.parser import parse_message

__all__ = [
    "KAMAILIO_STAT_NAMES", "STAT_NAMES", "WsConnection", "WsPolicy", "WsRegistry", "serve_ws",
]  # fmt: skip

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Sink = Callable[[Any, Any, Addr], None]
SUBPROTOCOL = "sip"
_CLOSING = (ConnectionState.LOCAL_CLOSING, ConnectionState.CLOSED)


@dataclass(frozen=True)
class WsPolicy:
    """What a WebSocket listener accepts.

    ``origins``: allowed ``Origin`` values (``scheme://host[:port]``, compared without
    case); empty allows any, including none (non-browser clients send no Origin). When
    the list is set, a request without Origin is refused too.
    """

    origins: tuple[str, ...] = ()
    max_message: int = 65535  # a SIP message; Kamailio's default buffer is of this order
    server: str = "kamtool"

    def origin_allowed(self, origin: str | None) -> bool:
        if not self.origins or "*" in self.origins:
            return True
        if origin is None:
            return False
        o = origin.strip().rstrip("/").lower()
        return any(o == a.rstrip("/").lower() for a in self.origins)


def _header(req: Request, name: bytes) -> str | None:
    for k, v in req.extra_headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


class WsConnection(asyncio.Protocol):
    """One accepted WebSocket connection carrying SIP."""

    handshake: Any = None  # set by tls_accept (wss): admitted before its TLS handshake

    def __init__(
        self,
        listen: Any,
        sink: Sink,
        policy: WsPolicy,
        registry: WsRegistry | None = None,
        proto: str = "ws",
        guard: Any = None,
        hooks: Any = None,
    ) -> None:
        self.listen = listen
        self.proto = getattr(listen, "proto", proto)  # "ws" or "wss"
        self.sink = sink
        self.policy = policy
        self.registry = registry if registry is not None else WsRegistry()
        self.ws = WSConnection(ConnectionType.SERVER)
        self.transport: asyncio.Transport | None = None
        self.peer: Addr = ("", 0)
        self.local: Addr = ("", 0)
        self.id = 0
        self.origin: str | None = None
        self.opened = self.last_active = time.monotonic()
        self.open = False  # upgraded and not closed
        self.awaiting_pong = False
        self._parts: list[str | bytes] = []
        self._size = 0
        # kamtool.proxy.tcplimits: a WebSocket is a TCP connection, under the same
        # tcp_max_connections, tcp_accept_iplimit, timeouts and idle eviction
        self.guard = guard
        # what every message sent goes through, read at each send since both come and go
        # (kamtool.proxy.transport.Transports): ``out_filter`` (topoh's masks) and
        # ``tap`` (the HEP agent while tracing)
        self.hooks = hooks
        self.outbound = False  # a WebSocket is never opened by us
        self.got_data = False
        self.partial_since: float | None = None

    # -- asyncio side -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.peer = (peer[0], peer[1])
        self.local = (sock[0], sock[1])
        if self.handshake is not None and self.guard is not None:
            self.guard.handover(self.handshake, self)  # wss: admitted before its handshake
        elif self.guard is not None and not self.guard.admit(self):
            self.transport = None  # over a limit (tcplimits): reset at once
            transport.abort()  # type: ignore[attr-defined]

    @property
    def buffered(self) -> bool:
        """Something begun and not finished (tcplimits' read timeout runs meanwhile): an
        HTTP upgrade request not complete yet (slowloris on the handshake), a frame
        partly received or a fragmented message not complete."""
        if self.ws.state is ConnectionState.CONNECTING:
            return self.got_data
        return bool(self._parts) or _frame_pending(self.ws)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        done = 0  # handshakes and messages completed by this read
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if self.ws.state in _CLOSING:  # we closed it (an oversized message ...):
                    break  # what came after in the same read is not ours to answer
                done += isinstance(event, Request) or (
                    isinstance(event, TextMessage | BytesMessage) and event.message_finished
                )
                self._handle(event)
        except RemoteProtocolError as e:
            # a bad upgrade request gets the HTTP answer wsproto suggests; a broken
            # frame after the upgrade is a protocol error (1002)
            if self.ws.state is ConnectionState.CONNECTING and e.event_hint is not None:
                self._reject(e.event_hint.status_code, str(e), list(e.event_hint.headers))
            else:
                self.registry.failed += 1
                self._close_with(CloseReason.PROTOCOL_ERROR, str(e))
        except UnicodeDecodeError:  # wsproto reads the upgrade's headers as ASCII
            if self.ws.state is ConnectionState.CONNECTING:
                self._reject(400, "bad bytes in the upgrade request")
            else:
                self.registry.failed += 1
                self._close_with(CloseReason.PROTOCOL_ERROR, "bad bytes")
        if self.guard is not None and self.transport is not None:
            self.guard.received(self, done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.transport = None
        self.registry.forget(self)
        if self.guard is not None:
            self.guard.forget(self)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and data:
            if self.guard is not None:
                self.guard.write(self, data)  # (a peer that does not read: closed)
            else:
                self.transport.write(data)

    # -- WebSocket events -------------------------------------------------------------------------
    def _handle(self, event: Any) -> None:
        if isinstance(event, Request):
            self._upgrade(event)
        elif isinstance(event, TextMessage | BytesMessage):
            self._message_part(event)
        elif isinstance(event, Ping):
            self._write(self.ws.send(event.response()))
        elif isinstance(event, Pong):
            self.awaiting_pong = False
        elif isinstance(event, CloseConnection):
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                self._write(self.ws.send(event.response()))
                self.registry.count("ws_remote_closed_connections")
            self.open = False
            if self.transport is not None:
                self.transport.close()

    def _upgrade(self, req: Request) -> None:
        self.origin = _header(req, b"origin")
        if not self.policy.origin_allowed(self.origin):
            log.info("ws %s:%s: origin %r refused", *self.peer, self.origin)
            self._reject(403, "Origin not allowed")
            return
        # the client's own spelling of "sip" is the one to echo (wsproto accepts only
        # a token the client offered); Kamailio takes any case too
        offered = [p.strip() for p in req.subprotocols if p.strip().lower() == SUBPROTOCOL]
        if not offered:
            self._reject(400, "the sip WebSocket subprotocol is required (RFC 7118)")
            return
        self.registry.count("ws_successful_handshakes")
        self._write(
            self.ws.send(
                AcceptConnection(
                    subprotocol=offered[0],
                    extra_headers=[(b"Server", self.policy.server.encode())],
                )
            )
        )
        self.open = True
        self.registry.add(self)

    def _reject(
        self, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.registry.count("ws_failed_handshakes")
        body = text.encode() + b"\n"
        head = [*(headers or ()), (b"Content-Type", b"text/plain")]
        head.append((b"Content-Length", b"%d" % len(body)))
        try:
            self._write(self.ws.send(RejectConnection(status, head, has_body=True)))
            self._write(self.ws.send(RejectData(body)))
        except LocalProtocolError:
            pass
        if self.transport is not None:
            self.transport.close()

    def _message_part(self, event: TextMessage | BytesMessage) -> None:
        self._parts.append(event.data)
        self._size += len(event.data)
        if self._size > self.policy.max_message:
            self.registry.failed += 1
            self._close_with(CloseReason.MESSAGE_TOO_BIG, "SIP message too large")
            return
        if not event.message_finished:
            return
        parts, self._parts, self._size = self._parts, [], 0
        self.registry.count("ws_received_frames")
        data = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
        try:
            msg: Any = parse_message(data)
        except ParseError as exc:
            msg = exc  # the core answers a bad request, as for TCP
        try:
            self.sink(msg, self, self.peer)
        except Exception:  # the core must never take the connection down
            log.exception("error handling a message from ws %s:%s", *self.peer)

    def _close_with(self, code: int, reason: str) -> None:
        try:
            self._write(self.ws.send(CloseConnection(code=code, reason=reason)))
            self.registry.count("ws_local_closed_connections")
        except LocalProtocolError:
            pass
        self.open = False
        if self.transport is not None:
            self.transport.close()

    # -- endpoint interface -----------------------------------------------------------------------
    def send(self, data: bytes, addr: Addr | None = None) -> None:
        """Send one SIP message as one text frame (binary when it is not UTF-8)."""
        if not self.open:
            return
        self.last_active = time.monotonic()
        hooks = self.hooks
        if hooks is not None and hooks.out_filter is not None:
            data = hooks.out_filter(data)  # topoh (kamtool.proxy.topoh)
        try:
            event: Any = TextMessage(data.decode("utf-8"))
        except UnicodeDecodeError:
            event = BytesMessage(data)
        self._write(self.ws.send(event))
        self.registry.count("ws_transmitted_frames")
        if hooks is not None and hooks.tap is not None:
            # replies and requests alike, as they went out (masked): HEP (kamtool trace)
            hooks.tap(data, self.proto, self.local, self.peer)

    def ping(self, payload: bytes = b"") -> bool:
        """A keepalive Ping; its Pong clears :attr:`awaiting_pong`."""
        if not self.open:
            return False
        self._write(self.ws.send(Ping(payload)))
        self.awaiting_pong = True
        return True

    def pong(self, payload: bytes = b"") -> bool:
        """An unsolicited Pong (RFC 6455 5.5.3: a one-way heartbeat)."""
        if not self.open:
            return False
        self._write(self.ws.send(Pong(payload)))
        return True

    def close(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (``ws.close``)."""
        if self.open:
            self._close_with(code, reason)
        elif self.transport is not None:
            self.transport.close()

    @property
    def state(self) -> str:
        """CONNECTING, OPEN, CLOSING or CLOSED, as ``ws.dump`` says them."""
        st = self.ws.state
        if st is ConnectionState.CONNECTING:
            return "CONNECTING"
        if st is ConnectionState.OPEN and self.open:
            return "OPEN"
        if st in (ConnectionState.LOCAL_CLOSING, ConnectionState.REMOTE_CLOSING):
            return "CLOSING"
        return "CLOSED"

    def dump_line(self, now: float) -> str:
        """The line Kamailio's ``ws.dump`` gives a connection."""
        # Kamailio 5.6 writes "state: OPEN, " then "awaiting Pong, " or nothing, then
        # " last used": two spaces when no Pong is awaited; the same bytes here
        pong = "awaiting Pong," if self.awaiting_pong else ""
        return (
            f"{self.id}: {self.proto}:{self.peer[0]}:{self.peer[1]} -> "
            f"{self.proto}:{self.local[0]}:{self.local[1]} (state: {self.state}, "
            f"{pong} last used {int(now - self.last_active)}s ago, sub-protocol: {SUBPROTOCOL})"
        )

    def info(self) -> dict[str, Any]:
        """A connection's details, for the monitor."""
        now = time.monotonic()
        return {
            "id": self.id,
            "proto": self.proto,
            "src": f"{self.peer[0]}:{self.peer[1]}",
            "dst": f"{self.local[0]}:{self.local[1]}",
            "origin": self.origin or "",
            "lifetime": int(now - self.opened),
            "idle": int(now - self.last_active),
            "subprotocol": SUBPROTOCOL,
        }


def _frame_pending(ws: WSConnection) -> bool:
    """wsproto holds part of a frame: bytes in its frame decoder's buffer, or a header
    parsed whose payload has not all come. wsproto has no public call for this; if its
    internals move, only fragmented messages count as in progress (the frame-level
    case is covered by tests/chaos/test_ws_limits.py)."""
    decoder = getattr(getattr(ws.connection, "_proto", None), "_frame_decoder", None)
    if decoder is None:
        return False
    return len(getattr(decoder, "buffer", ())) > 0 or getattr(decoder, "header", None) is not None


async def serve_ws(
    host: str,
    port: int,
    sink: Sink,
    *,
    policy: WsPolicy | None = None,
    registry: WsRegistry | None = None,
    listen: Any = None,
    ssl_context: ssl.SSLContext | None = None,
    guard: Any = None,
    hooks: Any = None,
) -> Any:  # asyncio.Server, or a TlsServer for wss
    """Listen for WebSocket (``ssl_context``: secure WebSocket) SIP connections;
    ``guard``: the :class:`~kamtool.proxy.tcplimits.TcpGuard` admitting them; ``hooks``:
    an object whose ``out_filter`` and ``tap`` every message sent goes through."""
    pol = policy or WsPolicy()
    reg = registry if registry is not None else WsRegistry()
    loop = asyncio.get_running_loop()
    proto = "wss" if ssl_context else "ws"
    factory = lambda: WsConnection(listen, sink, pol, reg, proto, guard, hooks)  # noqa: E731
    reuse_port = getattr(hooks, "reuse_port", False)  # --workers N
    if ssl_context is not None:
        # admitted before the handshake; one never completed is a silent connection
        return await serve_tls(factory, host, port, ssl_context, guard=guard,
                               reuse_port=reuse_port,
                               handshake_timeout=guard.data_timeout if guard else None)  # fmt: skip
    return await loop.create_server(factory, host, port, reuse_address=True,
                                    reuse_port=reuse_port or None)  # fmt: skip
