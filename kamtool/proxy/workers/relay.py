"""The receive-side switch of a worker, and the connections other workers hold.

:class:`OwnerSwitch` sits between the transports and the router: a message whose mark
(:mod:`.owner`) names another worker goes to it over the :class:`~.channel.Channel`,
with the address it came from and the listener it came in on, so the owner answers
from the same socket to the same address (NAT and ``rport`` keep working: the reply
leaves from the shared address the phone sent to). Everything else is handled here.

A TCP, TLS or WebSocket connection lives in the worker that accepted (or opened) it.
The worker that owns a transaction answers through it: the forwarded message carries
the holder's index, and :class:`RemoteConnection` sends the answer back there. Every
worker announces its connections (:class:`ConnectionDirectory`), so a request to a phone
registered over another worker's connection leaves through that connection too (what
Kamailio's shared TCP connection table does).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

from kamtool.proxy.workers.channel import CONN, SEND, SIP, Channel
from kamtool.proxy.workers.owner import owner_of_bytes, owner_of_message
from kamtool.sip.errors import ParseError

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Sink = Callable[[Any, Any, Addr], None]

# channel kinds: a forwarded message, "send this on your connection", a connection up/down
PROTOS = ("udp", "tcp", "tls", "ws", "wss")
_HEAD = struct.Struct("!BBBHB")  # proto, listener index, holder, port, host length
_PEER = struct.Struct("!BHB")  # proto, port, host length (SEND, CONN: + up/down byte first)


def _peer(proto: str, addr: Addr) -> bytes:
    host = addr[0].encode()
    return _PEER.pack(PROTOS.index(proto), addr[1], len(host)) + host


def _read_peer(data: bytes, at: int = 0) -> tuple[str, Addr, int]:
    proto, port, n = _PEER.unpack_from(data, at)
    at += _PEER.size
    return PROTOS[proto], (data[at : at + n].decode(), port), at + n


class RemoteConnection:
    """The endpoint of a message forwarded from a connection another worker holds: what
    is sent to it goes back to that worker, which writes it on the connection."""

    def __init__(self, proto: str, listen: Any, holder: int, peer: Addr, channel: Channel):
        self.proto = proto
        self.listen = listen
        self.holder = holder
        self.peer = peer
        self.channel = channel

    def send(self, data: bytes, addr: Addr | None = None) -> None:
        self.channel.send(self.holder, SEND, _peer(self.proto, self.peer) + data)


class ConnectionDirectory:
    """Which worker holds the connection to which peer: the transports' ``remote``. Their
    connection tables are :meth:`watched` dicts, so the others hear of each one."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.transports: Any = None
        self.holders: dict[Addr, tuple[str, int]] = {}  # peer -> (proto, worker)
        channel.on(CONN, self._announced)

    def watched(self) -> dict[Addr, Any]:
        """A connection table that tells the other workers what opens and closes."""
        return _Announced(self)

    def serve(self, transports: Any) -> None:
        """Send what the other workers pass for our connections on ``transports``."""
        self.transports = transports
        self.channel.on(SEND, self._send_here)

    def restarted(self, index: int) -> None:
        """Worker ``index`` started again: the connections it held are gone."""
        for peer in [p for p, (_, w) in self.holders.items() if w == index]:
            del self.holders[peer]

    def _announced(self, data: bytes) -> None:
        # up/down byte, the peer, then the holder's index (the datagram's source address
        # names a path, not a worker)
        up = data[0] == 1
        proto, peer, at = _read_peer(data, 1)
        holder = data[at]
        if up:
            self.holders[peer] = (proto, holder)
        elif self.holders.get(peer, ("", -1))[1] == holder:
            del self.holders[peer]

    def send(self, proto: str, addr: Addr, data: bytes) -> bool:
        """Send ``data`` through the worker holding the connection to ``addr``."""
        found = self.holders.get(addr)
        if found is None or found[0] != proto:
            return False
        return self.channel.send(found[1], SEND, _peer(proto, addr) + data)

    def alive(self, addr: Addr) -> bool:
        return addr in self.holders

    def _send_here(self, data: bytes) -> None:
        proto, peer, at = _read_peer(data)
        t = self.transports
        conn = t.ws.by_peer.get(peer) if proto in ("ws", "wss") else t.connections.get(peer)
        if conn is None:
            log.debug("worker channel: no %s connection to %s:%s any more", proto, *peer)
            return
        if proto in ("ws", "wss"):
            conn.send(data[at:])
        else:
            conn.send(data[at:], peer)


class _Announced(dict):  # type: ignore[type-arg]
    """A connections dict that tells the other workers what opens and closes."""

    def __init__(self, directory: ConnectionDirectory) -> None:
        super().__init__()
        self.directory = directory

    def __setitem__(self, peer: Addr, conn: Any) -> None:
        super().__setitem__(peer, conn)
        self._tell(True, conn, peer)

    def __delitem__(self, peer: Addr) -> None:
        conn = self.get(peer)
        super().__delitem__(peer)
        self._tell(False, conn, peer)

    def _tell(self, up: bool, conn: Any, peer: Addr) -> None:
        d = self.directory
        proto = getattr(conn, "proto", "tcp")
        if proto in PROTOS:
            me = d.channel.ctx.index
            d.channel.broadcast(CONN, bytes((up,)) + _peer(proto, peer) + bytes((me,)))


class OwnerSwitch:
    """The transports' sink with ``--workers N`` (see module docstring). Counts what
    this worker received from the network and what it passed on or was given."""

    def __init__(self, channel: Channel, sink: Sink, listens: tuple) -> None:
        self.channel = channel
        self.sink = sink
        self.transports: Any = None
        self.listens = listens
        self.me = channel.ctx.index
        self.count = channel.ctx.count
        self.received = self.forwarded = self.taken = 0

    def serve(self, transports: Any) -> None:
        """Take the messages the other workers pass, as if ``transports`` received them."""
        self.transports = transports
        self.channel.on(SIP, self._delivered)

    def __call__(self, data: Any, endpoint: Any, addr: Addr) -> None:
        self.received += 1
        if isinstance(data, bytes | bytearray):
            owner = owner_of_bytes(data)
        elif isinstance(data, ParseError):
            owner = None
        else:
            owner = owner_of_message(data)
        if owner is None or owner == self.me or owner >= self.count:
            self.sink(data, endpoint, addr)
            return
        raw = bytes(data) if isinstance(data, bytes | bytearray) else data.to_bytes()
        proto = endpoint.proto
        try:
            head = _HEAD.pack(PROTOS.index(proto), self.listens.index(endpoint.listen),
                              self.me, addr[1], len(addr[0]))  # fmt: skip
        except ValueError:  # a listener the others do not have: handle it here
            self.sink(data, endpoint, addr)
            return
        if self.channel.send(owner, SIP, head + addr[0].encode() + raw):
            self.forwarded += 1
        else:  # the owner is restarting: a reply still goes on statelessly from here
            self.sink(data, endpoint, addr)

    def _delivered(self, data: bytes) -> None:
        proto_i, listen_i, holder, port, n = _HEAD.unpack_from(data)
        at = _HEAD.size
        addr = (data[at : at + n].decode(), port)
        raw = data[at + n :]
        proto, listen = PROTOS[proto_i], self.listens[listen_i]
        endpoint: Any = None
        if proto == "udp":
            for ep in self.transports.udp:
                if ep.listen == listen:
                    endpoint = ep
                    break
        else:
            endpoint = RemoteConnection(proto, listen, holder, addr, self.channel)
        if endpoint is None:
            return
        self.taken += 1
        self.sink(raw, endpoint, addr)
