"""``kamtool trace``: collect HEP from a SIP server, filter it, group it by call.

A :class:`HepCollector` owns the UDP socket HEP arrives on and turns each datagram into a
:class:`TracedMessage` (the HEP addresses and time plus the SIP fields people filter on).
A :class:`TraceFilter` decides what is shown: ``callid``, ``caller`` and ``callee`` pick
calls by the first message seen of each Call-ID (the From user, the To or Request-URI
user), so the callee's in-dialog requests (whose From is the callee) stay with their
call, as in sngrep; ``ip`` and ``method`` (the CSeq method: requests and their replies)
are checked per message. :class:`CallGroups` numbers the calls and summarises them.

:func:`start_tracing` / :func:`stop_tracing` switch the server's tracing over JSON-RPC:
``siptrace.status on|off`` (Kamailio's siptrace, kamtool's proxy), after telling kamtool's
proxy where to send with its ``siptrace.dest_add`` (Kamailio sends to its
``duplicate_uri`` and answers "Method Not Found", which is fine).
"""

from __future__ import annotations

import hmac
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kamtool.errors import BadInput, KamtoolError, RpcError
from kamtool.sip.hep import HepError, HepPacket, decode_hep

__all__ = [
    "CallGroups",
    "HepCollector",
    "TraceFilter",
    "TracedMessage",
    "parse_listen",
    "server_sockets",
    "start_tracing",
    "stop_tracing",
]

_CALL_ID_RE = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)
_CSEQ_RE = re.compile(rb"^cseq[ \t]*:[ \t]*\d+[ \t]+([^\s]+)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class TracedMessage:
    """One SIP message as the server saw it, with the fields trace shows and filters on."""

    hep: HepPacket
    first_line: str
    call_id: str
    method: str  # the request's method, or the CSeq method of a reply
    status: int | None  # replies only
    from_user: str
    to_user: str
    ruri_user: str

    @property
    def is_request(self) -> bool:
        return self.status is None

    @classmethod
    def from_hep(cls, pkt: HepPacket) -> TracedMessage:
        """Read the SIP fields of ``pkt``'s payload; a malformed message keeps its first
        line and whatever Call-ID and CSeq can be found."""
        from kamtool.sip.errors import ParseError
        from kamtool.sip.parser import parse_message

        data = pkt.payload
        first = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
        try:
            msg: Any = parse_message(data, eager=False)
            status = getattr(msg, "status", None)
            method = msg.method if status is None else msg.cseq.method
            return cls(pkt, first, msg.call_id, method, status, _user(msg.from_.uri),
                       _user(msg.to.uri), _user(msg.uri) if status is None else "")  # fmt: skip
        except (ParseError, AttributeError, ValueError):
            pass
        call = _CALL_ID_RE.search(data)
        cseq = _CSEQ_RE.search(data)
        status = None
        if first.startswith("SIP/"):
            parts = first.split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        method = cseq.group(1).decode("ascii", "replace") if cseq else ""
        if status is None:
            method = first.split(" ", 1)[0]
        call_id = call.group(1).strip().decode("utf-8", "replace") if call else ""
        return cls(pkt, first, call_id, method, status, "", "", "")

    def direction(self, sockets: Sockets) -> str:
        """``in`` (to one of the server's ``sockets``), ``out`` (from one), or ``""``."""
        h = self.hep
        if _listens(sockets, h.dst_ip, h.dst_port):
            return "in"
        if _listens(sockets, h.src_ip, h.src_port):
            return "out"
        return ""

    def to_dict(
        self, call: int | None = None, full: bool = False, sockets: Sockets = frozenset()
    ) -> dict[str, Any]:
        """The JSON object ``kamtool trace --json`` prints for this message."""
        h = self.hep
        out: dict[str, Any] = {
            "time": round(h.timestamp, 6),
            "direction": self.direction(sockets),
            "proto": h.transport,
            "src": f"{_host(h.src_ip)}:{h.src_port}",
            "dst": f"{_host(h.dst_ip)}:{h.dst_port}",
            "first_line": self.first_line,
            "call_id": self.call_id,
            "method": self.method,
            "status": self.status,
            "capture_id": h.capture_id,
        }
        if call is not None:
            out["call"] = call
        if full:
            out["message"] = h.payload.decode("utf-8", "replace")
        return out

    def line(self, call: int | None = None, sockets: Sockets = frozenset()) -> str:
        """One line for people: time, call number, direction (when the server's sockets
        are known), transport, addresses, first line, Call-ID."""
        h = self.hep
        stamp = time.strftime("%H:%M:%S", time.localtime(h.ts_sec)) + f".{h.ts_usec:06d}"
        tag = f"[{call}] " if call is not None else ""
        way = self.direction(sockets)
        tag += f"{way:<3} " if way else ""
        return (
            f"{stamp} {tag}{h.transport} {_host(h.src_ip)}:{h.src_port} -> "
            f"{_host(h.dst_ip)}:{h.dst_port} {self.first_line}  Call-ID: {self.call_id}"
        )


Sockets = frozenset[tuple[str, int]]  # the server's listening (ip, port); ip "" = any


def _listens(sockets: Sockets, ip: str, port: int) -> bool:
    return bool(sockets) and ((ip, port) in sockets or ("", port) in sockets)


def server_sockets(rpc: Any) -> Sockets:
    """The server's listening sockets from ``core.sockets_list`` (Kamailio's and kamtool's
    shape); empty when it cannot tell. A wildcard address matches any address."""
    try:
        answer = rpc.call("core.sockets_list")
    except KamtoolError:
        return frozenset()
    found = set()
    for item in answer if isinstance(answer, list) else []:
        sock = item.get("socket", item) if isinstance(item, dict) else None
        if not isinstance(sock, dict):
            continue
        ip = str(sock.get("ipaddress") or sock.get("address") or "").strip("[]")
        try:
            port = int(sock.get("port", 0))
        except (TypeError, ValueError):
            continue
        found.add(("" if ip in ("0.0.0.0", "::") else ip, port))
    return frozenset(found)


def _user(uri: Any) -> str:
    return str(getattr(uri, "user", None) or getattr(uri, "number", None) or "")


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


@dataclass
class TraceFilter:
    """What ``kamtool trace`` shows (every field optional; all given ones must hold)."""

    caller: str | None = None
    callee: str | None = None
    ip: str | None = None
    callid: str | None = None
    method: str | None = None
    _calls: dict[str, bool] = field(default_factory=dict, repr=False)
    _max_calls: int = 100_000  # remembered verdicts (bounded memory on a long trace)

    def matches(self, msg: TracedMessage) -> bool:
        """True when ``msg`` is to be shown."""
        if self.ip and self.ip not in (msg.hep.src_ip, msg.hep.dst_ip):
            return False
        if self.method and msg.method.upper() != self.method.upper():
            return False
        if not (self.caller or self.callee or self.callid):
            return True
        verdict = self._calls.get(msg.call_id)
        if verdict is None:
            verdict = self._call_matches(msg)
            if len(self._calls) >= self._max_calls:
                del self._calls[next(iter(self._calls))]
            self._calls[msg.call_id] = verdict
        return verdict

    def _call_matches(self, msg: TracedMessage) -> bool:
        if self.callid and msg.call_id != self.callid:
            return False
        if self.caller and not _same_user(self.caller, msg.from_user):
            return False
        return not self.callee or any(
            _same_user(self.callee, u) for u in (msg.to_user, msg.ruri_user)
        )


def _same_user(wanted: str, user: str) -> bool:
    wanted = wanted.removeprefix("sip:").removeprefix("sips:").split("@", 1)[0]
    return bool(user) and wanted == user


@dataclass
class CallSummary:
    """What one Call-ID did: its number, messages, methods and final answer."""

    number: int
    call_id: str
    first_line: str
    messages: int = 0
    methods: list[str] = field(default_factory=list)
    final: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.number,
            "call_id": self.call_id,
            "first_line": self.first_line,
            "messages": self.messages,
            "methods": self.methods,
            "final": self.final,
        }


class CallGroups:
    """Numbers calls in the order they are first seen and keeps a summary of each."""

    def __init__(self) -> None:
        self.calls: dict[str, CallSummary] = {}

    def add(self, msg: TracedMessage) -> int:
        """Record ``msg``; the number of its call."""
        summary = self.calls.get(msg.call_id)
        if summary is None:
            summary = CallSummary(len(self.calls) + 1, msg.call_id, msg.first_line)
            self.calls[msg.call_id] = summary
        summary.messages += 1
        if msg.is_request and msg.method not in summary.methods:
            summary.methods.append(msg.method)
        final = msg.status is not None and msg.status >= 200
        if final and (msg.method == "INVITE" or not summary.final):
            summary.final = msg.first_line  # the INVITE's answer says how the call went
        return summary.number


def parse_listen(text: str, what: str = "--listen") -> tuple[str, int]:
    """``udp:IP:PORT`` (or ``IP:PORT``, ``udp:[::1]:PORT``) → (ip, port); UDP only.
    ``what`` names the setting in the BadInput message."""
    import ipaddress

    spec = text.strip()
    proto, sep, rest = spec.partition(":")
    if sep and proto.lower() in ("udp", "tcp", "tls"):
        if proto.lower() != "udp":
            raise BadInput(f"{what} {text}: HEP is collected over UDP only")
        spec = rest
    if spec.startswith("["):
        host, _, port_s = spec[1:].partition("]")
        port_s = port_s.removeprefix(":")
    else:
        host, _, port_s = spec.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise BadInput(f"{what} {text}: {host!r} is not an IP address") from exc
    if not port_s.isdigit() or not 0 <= int(port_s) < 65536:
        raise BadInput(f"{what} {text}: bad port {port_s!r} (udp:IP:PORT)")
    return host, int(port_s)


class HepCollector:
    """A UDP socket receiving HEP; :meth:`messages` yields what arrives until a deadline.

    Datagrams that are not HEP, or not SIP (``proto_type`` other than 1), or that lack
    ``auth_key`` when one is required, are counted in :attr:`dropped` and skipped.
    """

    def __init__(self, host: str, port: int, *, auth_key: str | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise BadInput(
                f"cannot listen for HEP on udp:{_host(host)}:{port}: {exc.strerror or exc}"
            ) from exc
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.auth_key = auth_key.encode() if auth_key else None
        self.dropped = 0
        self.received = 0

    @property
    def uri(self) -> str:
        """Where to send: ``udp:IP:PORT`` (a wildcard address as 127.0.0.1)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.address[0], self.address[0])
        return f"udp:{_host(host)}:{self.address[1]}"

    def messages(self, until: float | None) -> Iterator[TracedMessage]:
        """What arrives until ``until`` (a ``time.monotonic()`` value; None: for ever)."""
        while True:
            wait = None if until is None else until - time.monotonic()
            if wait is not None and wait <= 0:
                return
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                continue
            while True:
                try:
                    data = self.sock.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                msg = self.accept(data)
                if msg is not None:
                    yield msg

    def accept(self, data: bytes) -> TracedMessage | None:
        """The message in one datagram, or None (counted as dropped)."""
        try:
            pkt = decode_hep(data)
        except HepError:
            self.dropped += 1
            return None
        if pkt.proto_type != 1 or not self._authorised(pkt):
            self.dropped += 1
            return None
        self.received += 1
        return TracedMessage.from_hep(pkt)

    def _authorised(self, pkt: HepPacket) -> bool:
        if self.auth_key is None:
            return True
        return hmac.compare_digest(pkt.auth_key or b"", self.auth_key)

    def close(self) -> None:
        self.sock.close()


def start_tracing(rpc: Any, uri: str) -> dict[str, Any]:
    """Turn the server's tracing on, sending to ``uri`` where the server can be told.

    Returns the state :func:`stop_tracing` needs: whether tracing was on before (then it
    is left on) and whether a destination was added. Raises what the RPC client raises
    when no server answers."""
    state: dict[str, Any] = {"added": False, "was_on": False}
    try:
        rpc.call("siptrace.dest_add", uri)
        state["added"] = True
    except RpcError:
        pass  # Kamailio: the cfg's duplicate_uri says where
    state["was_on"] = str(rpc.call("siptrace.status", "check")).strip() == "Enabled"
    if not state["was_on"]:
        rpc.call("siptrace.status", "on")
    return state


def stop_tracing(rpc: Any, uri: str, state: dict[str, Any]) -> None:
    """Undo :func:`start_tracing`: tracing off again unless it was on before."""
    if not state.get("was_on"):
        rpc.call("siptrace.status", "off")
    if state.get("added"):
        rpc.call("siptrace.dest_rm", uri)
