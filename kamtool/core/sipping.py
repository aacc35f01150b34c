"""``kamtool ping URI``: one SIP OPTIONS request and its answer (what kamctl ping does
with sipsak), on the sans-IO core.

The request is built with :mod:`kamtool.sip` and sent through a
:class:`~kamtool.sip.transaction.TransactionLayer` non-INVITE client transaction, so the
retransmissions are RFC 3261's Timer E schedule (T1, 2*T1 ... capped at T2, UDP only) and
the give-up time is Timer F (here ``timeout``). This module only owns the socket and the
clock: it performs the layer's ``Send`` events and feeds it what arrives.
"""

from __future__ import annotations

import secrets
import select
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from kamtool.errors import BadInput, OperationTimeout, Unreachable

DEFAULT_TIMEOUT = 5.0  # seconds; Timer F would be 64*T1 = 32 s, too long for a command
PROTOCOLS = ("udp", "tcp")


@dataclass(frozen=True)
class PingResult:
    """The final answer to the OPTIONS: status line, round trip, where it went."""

    uri: str
    destination: str  # proto:ip:port the request was sent to
    status: int
    reason: str
    rtt_ms: float  # first transmission -> final response
    retransmissions: int
    provisional: tuple[int, ...]  # 1xx statuses seen before the final one
    server: str | None  # Server or User-Agent header of the answer

    @property
    def status_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``)."""
        out = asdict(self)
        out["provisional"] = list(self.provisional)
        out["status_line"] = self.status_line
        return out


def target(uri_text: str, transport: str | None = None) -> tuple[Any, str, str, int]:
    """(parsed URI, proto, ip, port) for ``uri_text``: ``sip:[user@]host[:port][;transport=]``.

    A bare ``host[:port]`` gets ``sip:`` in front. The host is resolved with the system
    resolver (A/AAAA records, no NAPTR/SRV); the port defaults to 5060.
    """
    from kamtool.sip import ParseError, parse_uri

    text = uri_text.strip()
    if not text.lower().startswith(("sip:", "sips:")):
        text = "sip:" + text
    try:
        uri = parse_uri(text, "URI")
    except ParseError as exc:
        raise BadInput(f"{uri_text!r} is not a SIP URI: {exc}") from None
    if uri.scheme != "sip":
        raise BadInput("sips: needs TLS, which kamtool ping does not speak (use sip:)")
    proto = (transport or uri.params.get("transport") or "udp").lower()
    if proto not in PROTOCOLS:
        raise BadInput(f"transport {proto!r} is not supported (udp, tcp)")
    port = uri.port or 5060
    try:
        infos = socket.getaddrinfo(uri.host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve {uri.host}: {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    return uri, proto, sockaddr[0], port


def build_options(uri: Any, proto: str, local: tuple[str, int], seed: str) -> Any:
    """The OPTIONS request (RFC 3261 11.1) from ``local`` (ip, port) over ``proto``."""
    from kamtool.sip.headers import make_branch
    from kamtool.sip.message import Request

    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    return Request(
        "OPTIONS",
        str(uri),
        [
            ("Via", f"SIP/2.0/{proto.upper()} {host}:{local[1]};branch={make_branch(seed)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:ping@{host}>;tag={seed[:16]}"),
            ("To", f"<{uri}>"),
            ("Call-ID", f"{seed}@{host}"),
            ("CSeq", "1 OPTIONS"),
            ("Contact", f"<sip:ping@{host}:{local[1]};transport={proto}>"),
            ("Accept", "application/sdp"),
            ("User-Agent", "kamtool ping"),
        ],
    )


def ping(
    uri_text: str,
    *,
    transport: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    t1: float = 0.5,
    t2: float = 4.0,
) -> PingResult:
    """Send one OPTIONS to ``uri_text`` and wait for its final response.

    Raises :class:`OperationTimeout` when nothing final arrives within ``timeout``
    seconds (Timer F) and :class:`Unreachable` when the peer refuses (ICMP port
    unreachable over UDP, connection refused over TCP).
    """
    from kamtool.sip import ParseError, StreamFramer, parse_message
    from kamtool.sip.events import Peer, ResponseReceived, Send, TransactionTimeout
    from kamtool.sip.timers import TimerConfig
    from kamtool.sip.transaction import TransactionLayer

    if not timeout > 0:
        raise BadInput("the timeout must be a positive number of seconds")
    uri, proto, ip, port = target(uri_text, transport)
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    dest = f"{proto}:{f'[{ip}]' if ':' in ip else ip}:{port}"
    try:
        sock.settimeout(timeout)
        try:
            sock.connect((ip, port))
        except ConnectionRefusedError:
            raise Unreachable(f"{dest} refused the connection") from None
        except TimeoutError:
            raise OperationTimeout(f"no connection to {dest} within {timeout:g} s") from None
        except OSError as exc:
            raise Unreachable(f"cannot reach {dest}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        local = sock.getsockname()[:2]
        peer = Peer(proto, ip, port)
        layer = TransactionLayer(TimerConfig(t1=t1, t2=t2, fr_timer=timeout), trying_after=None)
        request = build_options(uri, proto, local, secrets.token_hex(12))
        framer = StreamFramer(pongs=True) if proto == "tcp" else None
        sent = 0
        started = time.monotonic()
        provisional: list[int] = []
        events = layer.send_request(request, peer, started)
        while True:
            for ev in events:
                if isinstance(ev, Send):
                    _send(sock, ev.data, dest)
                    sent += 1
                elif isinstance(ev, ResponseReceived) and ev.key is not None:
                    resp = ev.response
                    if resp.status < 200:
                        provisional.append(resp.status)
                        continue
                    return PingResult(
                        uri=str(uri),
                        destination=dest,
                        status=resp.status,
                        reason=resp.reason,
                        rtt_ms=round((time.monotonic() - started) * 1000, 3),
                        retransmissions=sent - 1,
                        provisional=tuple(provisional),
                        server=resp.headers.get("Server") or resp.headers.get("User-Agent"),
                    )
                elif isinstance(ev, TransactionTimeout):
                    tried = f" ({sent} transmissions)" if proto == "udp" else ""
                    raise OperationTimeout(
                        f"no final answer from {dest} within {timeout:g} s{tried}"
                        + (f"; last provisional {provisional[-1]}" if provisional else "")
                    )
            deadline = layer.next_deadline()
            wait = max(0.0, deadline - time.monotonic()) if deadline is not None else timeout
            readable, _, _ = select.select([sock], [], [], wait)
            now = time.monotonic()
            if not readable:
                events = layer.handle_timer(now)
                continue
            events = []
            for data in _receive(sock, dest, framer):
                try:
                    msg = data if framer is not None else parse_message(data)
                except ParseError:
                    continue  # not a SIP message: keep waiting for one
                if not msg.is_request:
                    events += layer.receive(msg, peer, now)
    finally:
        sock.close()


def _send(sock: socket.socket, data: bytes, dest: str) -> None:
    try:
        sock.sendall(data) if sock.type == socket.SOCK_STREAM else sock.send(data)
    except ConnectionRefusedError:  # an ICMP error from an earlier datagram
        raise Unreachable(f"{dest} refused the request (ICMP port unreachable)") from None
    except OSError as exc:
        raise Unreachable(f"cannot send to {dest}: {exc.strerror or exc}") from None


def _receive(sock: socket.socket, dest: str, framer: Any) -> list[Any]:
    """What one read gives: datagrams (UDP) or complete messages cut by ``framer`` (TCP)."""
    from kamtool.sip import ParseError
    from kamtool.sip.parser import KeepAlive

    try:
        data = sock.recv(65535)
    except ConnectionRefusedError:
        raise Unreachable(f"{dest} refused the request (ICMP port unreachable)") from None
    except BlockingIOError:
        return []
    except OSError as exc:
        raise Unreachable(f"connection to {dest} failed: {exc.strerror or exc}") from None
    if framer is None:
        return [data]
    if not data:
        raise Unreachable(f"{dest} closed the connection without answering")
    framer.feed(data)
    out = []
    while True:
        try:
            ev = framer.next_event()
        except ParseError as exc:
            raise Unreachable(f"{dest} broke the stream with a malformed message: {exc}") from None
        if ev is None:
            return out
        if not isinstance(ev, KeepAlive):
            out.append(ev)
