"""Thin asyncio transports: bytes in → the routing core, bytes out → sockets. Nothing else.

The core is any callable ``sink(data: bytes, endpoint, addr)``. ``endpoint`` is the
object the message came in on (a :class:`UdpEndpoint` or a :class:`TcpConnection`);
both have ``proto``, ``listen`` (the :class:`~kamtool.proxy.config.Listen` it belongs to)
and ``send(data, addr)``, so a reply goes back the way the request came (RFC 3261
§18.2.2). New outgoing TCP connections are opened by :meth:`Transports.send`.

TCP byte streams are cut into messages by the SIP core's stream framer
(Content-Length based; CRLFCRLF pings answered with CRLF). For TCP the sink gets the parsed
message (or the ParseError of a malformed one) instead of bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from kamtool.errors import ConfigError, bind_hint
from kamtool.proxy.config import Listen
from kamtool.proxy.reopen import response_address
from kamtool.proxy.tcplimits import TcpGuard
from kamtool.proxy.tls_accept import serve_tls
from kamtool.proxy.ws import WsPolicy, WsRegistry, serve_ws
from kamtool.sip.errors import ParseError
from kamtool.sip.parser import KeepAlive, StreamFramer

MAX_UDP = 65507  # the most a UDP datagram over IPv4 carries

log = logging.getLogger(__name__)

Addr = tuple[str, int]
_FORCED_MAX = 65536  # destinations remembered with their socket (bounded memory)
_CONN_IDS = itertools.count(1)  # TCP/TLS connection ids, as core.tcp_list shows them


class Endpoint(Protocol):
    proto: str
    listen: Listen

    def send(self, data: bytes, addr: Addr) -> None: ...


Sink = Callable[[bytes, Any, Addr], None]
# Transports.tap: called with (data, proto, source, destination) for every SIP message
# received and sent while set (the HEP agent, kamtool.proxy.hep, sets it while tracing)
Tap = Callable[[bytes, str, Addr, Addr], None]


class UdpEndpoint(asyncio.DatagramProtocol):
    """One bound UDP socket."""

    proto = "udp"

    def __init__(self, listen: Listen, sink: Sink, registry: Transports | None = None) -> None:
        self.listen = listen
        self.sink = sink
        self.registry = registry
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Bursts of REGISTER/INVITE must not be dropped by a small default buffer.
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
                except OSError:
                    pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.registry is not None and self.registry.tap is not None:
            self.registry.tap(data, "udp", (addr[0], addr[1]), (self.listen.host, self.listen.port))
        try:
            self.sink(data, self, (addr[0], addr[1]))
        except Exception:  # the core must never take the socket down
            log.exception("error handling a datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the transaction timers handle the loss.
        log.debug("udp %s: %s", self.listen, exc)

    def send(self, data: bytes, addr: Addr) -> None:
        if self.registry is not None and self.registry.out_filter is not None:
            data = self.registry.out_filter(data)  # topoh
        if len(data) > MAX_UDP:  # the kernel refuses it (EMSGSIZE) and says so only at debug
            log.warning("udp: a %d-byte message to %s:%s does not fit in a datagram; not sent",
                        len(data), addr[0], addr[1])  # fmt: skip
            return
        if self.transport is not None:
            self.transport.sendto(data, addr)
            if self.registry is not None and self.registry.tap is not None:
                self.registry.tap(data, "udp", (self.listen.host, self.listen.port), addr)


class TcpConnection(asyncio.Protocol):
    """One TCP or TLS connection, accepted or opened by us (``proto`` is its listener's)."""

    proto = "tcp"

    def __init__(self, listen: Listen, sink: Sink, registry: Transports) -> None:
        self.listen = listen
        self.proto = listen.proto  # "tcp" or "tls"
        self.sink = sink
        self.registry = registry
        self.framer = registry.new_framer()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr = ("", 0)
        self.pending: list[bytes] = []
        self.last_active = time.monotonic()
        self.outbound = False  # opened by us (Transports.send), not accepted
        self.lost = False  # closed: what is still sent on it needs a new connection
        self.got_data = False  # tcplimits: anything received yet
        self.partial_since: float | None = None  # tcplimits: a message in progress since
        self.id = next(_CONN_IDS)  # core.tcp_list, tls.list

    handshake: Any = None  # set by tls_accept: admitted before its TLS handshake

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        guard = self.registry.guard
        if self.outbound:
            guard.track(self)
        elif self.handshake is not None:
            guard.handover(self.handshake, self)
        elif not guard.admit(self):  # over a limit (tcplimits): reset it at once
            self.transport = None
            transport.abort()  # type: ignore[attr-defined]
            return
        self.registry.connections[self.peer] = self
        for data in self.pending:
            self.transport.write(data)
        self.pending.clear()

    @property
    def buffered(self) -> bool:
        """A message begun and not complete (tcplimits' read timeout)."""
        return bool(self.framer.buffered)

    def data_received(self, data: bytes) -> None:
        self.registry.guard.received(self, self._frame(data))

    def _frame(self, data: bytes) -> int:
        """Feed ``data`` to the framer and hand out what it completes; how many events."""
        self.last_active = time.monotonic()
        framer = self.framer
        framer.feed(data)
        events = 0
        while True:
            try:
                event = framer.next_event()
            except ParseError as exc:
                if framer.broken is not None:
                    # the stream lost its framing: it cannot be resynchronised
                    log.info("tcp %s:%s: closing, bad stream: %s", *self.peer, exc)
                    if self.transport is not None:
                        self.transport.close()
                    return events
                event = exc  # one bad message in a well-framed frame: the core answers it
            if event is None:
                return events
            events += 1
            if isinstance(event, KeepAlive):
                if event.ping and self.transport is not None:
                    self.registry.guard.write(self, b"\r\n")  # RFC 5626 pong
                continue
            if self.registry.tap is not None and not isinstance(event, ParseError):
                self.registry.tap(event.to_bytes(), self.proto, self.peer,
                                  (self.listen.host, self.listen.port))  # fmt: skip
            try:
                self.sink(event, self, self.peer)
            except Exception:
                log.exception("error handling a message from tcp %s:%s", *self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.registry.guard.forget(self)
        if self.registry.connections.get(self.peer) is self:
            del self.registry.connections[self.peer]
        self.transport = None

    def send(self, data: bytes, addr: Addr | None = None) -> None:
        if self.lost:  # (before topoh: the new connection's send masks it)
            self.registry.reopen(self.proto, data)
            return
        self.last_active = time.monotonic()
        if self.registry.out_filter is not None:
            data = self.registry.out_filter(data)  # topoh
        if self.registry.tap is not None:
            self.registry.tap(data, self.proto, (self.listen.host, self.listen.port), self.peer)
        if self.transport is not None:
            self.registry.guard.write(self, data)  # (a peer that does not read: closed)
        else:
            self.pending.append(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _default_framer() -> Any:
    return StreamFramer()


def _no_sink(data: Any, endpoint: Any, addr: Addr) -> None:
    log.debug("no receiver yet: message from %s:%s dropped", *addr)


class Transports:
    """All sockets of one proxy: listeners, TCP connections, and sending by address."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sink: Sink | None = None,
        framer_factory: Callable[[], Any] = _default_framer,
        tls: Any = None,
        guard: TcpGuard | None = None,
        out_filter: Callable[[bytes], bytes] | None = None,
        ws_policy: WsPolicy | None = None,
        reuse_port: bool = False,
        remote: Any = None,
        ws_id_base: int = 0,
    ) -> None:
        self.loop = loop
        self.guard = guard or TcpGuard()  # TCP/TLS limits and timeouts (tcplimits)
        self.tls = tls  # kamtool.proxy.tls.TlsContexts, needed by tls listeners
        # the core every message goes to; given here or to bind() (the core sends through
        # these transports, so it is often built after them)
        self.sink: Sink = sink or _no_sink
        self.new_framer = framer_factory
        self.tap: Tap | None = None  # see Tap
        # every UDP/TCP/TLS message on its way out (topoh's masks: kamtool.proxy.topoh)
        self.out_filter = out_filter
        self.udp: list[UdpEndpoint] = []
        self.tcp_servers: list[tuple[Listen, Any]] = []  # asyncio.Server or TlsServer
        # --workers N: every worker binds the same addresses (SO_REUSEPORT), and a TCP/TLS/WS
        # peer whose connection another worker holds is reached through it: ``remote``, a
        # kamtool.proxy.workers.relay.ConnectionDirectory (send(proto, addr, data), alive),
        # which also hears of every connection opened and closed here (its watched dicts)
        self.reuse_port = reuse_port
        self.remote = remote
        self.connections: dict[Addr, TcpConnection] = remote.watched() if remote else {}
        # ws:/wss: listeners (RFC 7118): their open connections, by id and peer (ws.dump);
        # a WebSocket is never opened by us, only reused while the browser keeps it;
        # --workers N: each worker numbers its connections from its own ``ws_id_base``
        self.ws = WsRegistry(ws_id_base)
        if remote is not None:
            self.ws.by_peer = remote.watched()
        self.ws_policy = ws_policy or WsPolicy()  # ws:/wss: Origin allow-list, Server
        # destination (proto, host, port) -> the socket it must be reached from (a contact's
        # registered socket, the socket a double Record-Route names): see socket_for()
        self._forced: dict[tuple[str, str, int], Listen] = {}
        self._source_cache: dict[str, str | None] = {}  # host -> local address (mhomed)
        # told (proto, addr) when a TCP/TLS connection we open fails (reopen.fail_branches)
        self.connect_failed: list[Callable[[str, Addr], None]] = []

    async def bind(self, listens: tuple[Listen, ...], sink: Sink | None = None) -> None:
        """Open every listener, delivering to ``sink`` (when given: the receiving core);
        ConfigError when an address cannot be bound."""
        if sink is not None:
            self.sink = sink
        for lst in listens:
            try:
                await self._bind_one(lst)
            except OSError as exc:
                raise ConfigError(
                    f"cannot listen on {lst}: {exc.strerror or exc}",
                    hint=bind_hint(exc, "--listen"),
                ) from exc
            log.info("listening on %s", lst)
        if self.tcp_servers:
            self.guard.start(self.loop)

    async def _bind_one(self, lst: Listen) -> None:
        if lst.proto == "udp":
            _, proto = await self.loop.create_datagram_endpoint(
                lambda: UdpEndpoint(lst, self.sink, self),
                local_addr=(lst.host, lst.port),
                reuse_port=self.reuse_port or None,
            )
            self.udp.append(proto)  # type: ignore[arg-type]
        elif lst.proto in ("ws", "wss"):
            if lst.proto == "wss" and self.tls is None:
                raise ConfigError(f"cannot listen on {lst}: no TLS certificate configured")
            ctx = self.tls.server if lst.proto == "wss" else None
            server = await serve_ws(lst.host, lst.port, self._ws_sink, policy=self.ws_policy,
                                    registry=self.ws, listen=lst, ssl_context=ctx,
                                    guard=self.guard, hooks=self)  # fmt: skip
            self.tcp_servers.append((lst, server))
        else:
            if lst.proto == "tls" and self.tls is None:
                raise ConfigError(f"cannot listen on {lst}: no TLS certificate configured")
            factory = lambda: TcpConnection(lst, self.sink, self)  # noqa: E731
            if lst.proto == "tls":
                # a handshake that never completes is a silent connection (tcplimits)
                server: Any = await serve_tls(
                    factory, lst.host, lst.port, self.tls.server, guard=self.guard,
                    reuse_port=self.reuse_port, handshake_timeout=self.guard.data_timeout,
                )  # fmt: skip
            else:
                server = await self.loop.create_server(
                    factory, host=lst.host, port=lst.port, reuse_address=True,
                    reuse_port=self.reuse_port or None,
                )  # fmt: skip
            self.tcp_servers.append((lst, server))

    def listens(self, proto: str) -> list[Listen]:
        """The listeners of ``proto``, in the order given."""
        if proto == "udp":
            return [ep.listen for ep in self.udp]
        return [lst for lst, _ in self.tcp_servers if lst.proto == proto]

    def endpoint_for(self, proto: str) -> Listen | None:
        """The default listener of ``proto`` (the first one): where no destination is known."""
        found = self.listens(proto)
        return found[0] if found else None

    def listen_named(self, socket_str: str | None) -> Listen | None:
        """Our listener written as ``socket_str`` (``udp:1.2.3.4:5060``, the ``location``
        table's socket column), or None when we have no such socket."""
        if not socket_str:
            return None
        try:
            wanted = Listen.parse(socket_str).socket_str
        except ConfigError:
            return None
        for lst in (*self.listens("udp"), *(lst for lst, _ in self.tcp_servers)):
            if lst.socket_str == wanted:
                return lst
        return None

    def force(self, dest: tuple[str, str, int], listen: Listen) -> None:
        """From now on reach ``dest`` from ``listen`` (Kamailio's force_send_socket for a
        contact's registered socket): retransmissions and later requests follow."""
        key = (dest[0], dest[1], dest[2])
        if self._forced.get(key) == listen:
            return
        if len(self._forced) >= _FORCED_MAX:  # bounded: the oldest association goes
            del self._forced[next(iter(self._forced))]
        self._forced[key] = listen

    def socket_for(self, proto: str, host: str, port: int) -> Listen | None:
        """The listener a message to ``(proto, host, port)`` leaves from, as Kamailio
        chooses it: the socket forced for that destination (:meth:`force`), else one of
        ``proto`` and the destination's address family (an IPv6 host needs an IPv6
        socket) whose address the kernel would use to reach it (mhomed), else the first
        of that family. None: no socket can reach it."""
        forced = self._forced.get((proto, host, port))
        if forced is not None:
            return forced
        v6 = ":" in host
        family = [lst for lst in self.listens(proto) if (":" in lst.host) == v6]
        if len(family) <= 1:
            return family[0] if family else None
        source = self._source_address(host)
        wildcard = None
        for lst in family:
            if lst.host == source:
                return lst
            if wildcard is None and lst.host in ("0.0.0.0", "::"):
                wildcard = lst
        return wildcard or family[0]

    def _source_address(self, host: str) -> str | None:
        """The local address the kernel routes ``host`` from (a connected UDP socket
        sends nothing), memoised per host."""
        if host in self._source_cache:
            return self._source_cache[host]
        source = None
        try:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                               socket.SOCK_DGRAM) as probe:  # fmt: skip
                probe.connect((host, 9))
                source = probe.getsockname()[0]
        except OSError:
            source = None
        if len(self._source_cache) >= _FORCED_MAX:
            self._source_cache.clear()
        self._source_cache[host] = source
        return source

    def _ws_sink(self, msg: Any, conn: Any, addr: Addr) -> None:
        """A SIP message from a WebSocket: traced like a TCP one, then to the core."""
        if self.tap is not None and not isinstance(msg, ParseError):
            self.tap(msg.to_bytes(), conn.proto, addr, conn.local)
        self.sink(msg, conn, addr)

    def alive(self, addr: Addr) -> bool:
        """A TCP, TLS or WebSocket connection to ``addr`` is open."""
        if addr in self.connections or addr in self.ws.by_peer:
            return True
        return self.remote is not None and self.remote.alive(addr)

    def send(self, proto: str, addr: Addr, data: bytes) -> bool:
        """Send ``data`` to ``addr`` over ``proto`` from the socket :meth:`socket_for`
        picks; False when there is no such transport."""
        if proto in ("ws", "wss"):
            conn = self.ws.by_peer.get(addr)  # only the browser's own connection reaches it
            if conn is None or conn.proto != proto:
                return self.remote is not None and self.remote.send(proto, addr, data)
            conn.send(data)  # traced there, after topoh (what goes out)
            return True
        if proto in ("tcp", "tls"):
            conn = self.connections.get(addr)
            if conn is None and self.remote is not None and self.remote.send(proto, addr, data):
                return True  # another worker holds the connection: it sends
            if conn is None or conn.proto != proto:
                listen = self.socket_for(proto, addr[0], addr[1])
                if listen is None:
                    return False
                conn = TcpConnection(listen, self.sink, self)
                conn.outbound = True
                self.connections[addr] = conn
                conn.peer = addr
                self.loop.create_task(self._connect(conn, addr))
            conn.send(data)
            return True
        listen = self.socket_for(proto, addr[0], addr[1])
        if listen is None:
            return False
        for ep in self.udp:
            if ep.listen is listen or ep.listen == listen:
                ep.send(data, addr)
                return True
        return False

    def reopen(self, proto: str, data: bytes) -> None:
        """A response whose request's connection has closed: over a new connection to
        the Via's address (RFC 3261 §18.2.2, as Kamailio does); other data is lost."""
        addr = response_address(data, proto)
        if addr is None or not self.send(proto, addr, data):
            log.info("%s connection gone, nowhere to send %d bytes", proto, len(data))

    async def _connect(self, conn: TcpConnection, addr: Addr) -> None:
        try:
            ssl_ctx = self.tls.client if conn.proto == "tls" and self.tls else None
            host = conn.listen.host
            # from our socket's address (any port), as Kamailio's tcp_send binds it, so
            # the peer sees the address our Via and Record-Route name
            local = None if host in ("0.0.0.0", "::") else (host, 0)
            await self.loop.create_connection(
                lambda: conn, addr[0], addr[1], ssl=ssl_ctx, local_addr=local
            )
        except (OSError, ValueError) as exc:  # ValueError: a name idna refuses (a Via's)
            log.info("tcp connect to %s:%s failed: %s", addr[0], addr[1], exc)
            if self.connections.get(addr) is conn:
                del self.connections[addr]
            conn.pending.clear()
            for listener in self.connect_failed:  # the branches sent there fail (§16.9)
                listener(conn.proto, addr)

    def close_idle(self, lifetime: float) -> int:
        """Close TCP connections idle for ``lifetime`` seconds (tcp_connection_lifetime)."""
        limit = time.monotonic() - lifetime
        idle = [c for c in self.connections.values() if c.last_active < limit]
        for conn in idle:
            conn.close()
        return len(idle)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        self.guard.stop()
        for ep in self.udp:
            if ep.transport is not None:
                ep.transport.close()
        for _, server in self.tcp_servers:
            server.close()
        for conn in list(self.connections.values()):
            conn.close()
        for ws in list(self.ws.by_id.values()):
            ws.close(1001, "Going away")
        for _, server in self.tcp_servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 1.0)
            except TimeoutError:
                pass
        self.udp.clear()
        self.tcp_servers.clear()
