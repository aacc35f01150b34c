"""``kamtool sipreq``: any SIP request, every reply with its time (``kamtool ping`` is its
OPTIONS case).

The request is built with :mod:`kamtool.sip` and run through a
:class:`~kamtool.sip.transaction.TransactionLayer` client transaction: RFC 3261's
retransmissions over UDP (Timer A/E), the ACK of a non-2xx final answer to an INVITE, and
Timer B/F as the give-up time (``timeout``). A 401/407 is answered once with digest
credentials when a user and password are given. A 2xx to an INVITE is acknowledged and
the call it made is ended with a BYE at once: sipreq tests a path, it does not hold calls.
This module owns the socket (UDP, TCP or TLS; optionally bound to a source address) and
the clock; :mod:`kamtool.core.sipresolve` finds the destination (RFC 3263).
"""

from __future__ import annotations

import secrets
import select
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from kamtool.core.sipresolve import Target, resolve
from kamtool.errors import BadInput, OperationTimeout, Unreachable

DEFAULT_TIMEOUT = 5.0  # seconds; Timer F would be 64*T1 = 32 s, too long for a command


@dataclass
class RequestSpec:
    """What to send and how (the options of ``kamtool sipreq``)."""

    method: str
    uri: str
    from_uri: str | None = None  # default sip:USER@host (USER: --user, else from_user)
    to_uri: str | None = None  # default the Request-URI (REGISTER: the From URI)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    transport: str | None = None
    source: tuple[str, int] | None = None  # local address to send from
    proxy: str | None = None  # send to this host[:port] instead of the R-URI's host
    user: str | None = None  # digest credentials for a 401/407
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    wait: bool = True  # False: send once and return
    tls_ca: str | None = None  # CA file to verify a TLS server with (default: the system's)
    tls_verify: bool = True
    dns_server: tuple[str, int] | None = None
    verbose: bool = False  # keep every message sent and received, as text
    from_user: str = "sipreq"
    user_agent: str = "kamtool sipreq"
    t1: float = 0.5
    t2: float = 4.0


@dataclass(frozen=True)
class Reply:
    """One response as it arrived: status, reason, milliseconds after its request."""

    status: int
    reason: str
    ms: float
    cseq: str
    server: str | None = None
    message: str | None = None  # the whole response (verbose)

    @property
    def status_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


@dataclass
class SipReqResult:
    """Every reply, the final one, and where the request went."""

    method: str
    uri: str
    destination: str
    resolved_by: str
    replies: list[Reply] = field(default_factory=list)
    retransmissions: int = 0
    sent_requests: list[str] = field(default_factory=list)  # "INVITE", "ACK", "BYE" ...
    waited: bool = True
    # verbose: every message in order, {"direction": "sent"|"received", "ms", "message"}
    trace: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final(self) -> Reply | None:
        """The last final answer (after an authentication round, the second one)."""
        finals = [r for r in self.replies if r.status >= 200 and not r.cseq.endswith(" BYE")]
        return finals[-1] if finals else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        final = self.final
        out["status"] = final.status if final else None
        out["reason"] = final.reason if final else None
        out["rtt_ms"] = final.ms if final else None
        return out


def parse_source(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` as a local address to bind."""
    import ipaddress

    host, port = text, "0"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "0"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise BadInput(f"source {text!r}: give IP, IP:PORT or [IPv6]:PORT") from None
    if not 0 <= number <= 65535:
        raise BadInput(f"source port {number} is not in 0..65535")
    return host, number


def parse_dns_server(text: str) -> tuple[str, int]:
    """``IP[:PORT]`` of a DNS server (port 53 by default)."""
    host, port = parse_source(text)
    return host, port or 53


def parse_uri_text(text: str) -> Any:
    """A SIP URI from ``sip:...``, ``sips:...`` or a bare ``host[:port]``."""
    from kamtool.sip import ParseError, parse_uri

    t = text.strip()
    if not t.lower().startswith(("sip:", "sips:")):
        t = "sip:" + t
    try:
        return parse_uri(t, "URI")
    except ParseError as exc:
        raise BadInput(f"{text!r} is not a SIP URI: {exc}") from None


def destinations(spec: RequestSpec) -> tuple[Any, list[Target]]:
    """(the parsed Request-URI, the targets to try for it or for ``spec.proxy``)."""
    uri = parse_uri_text(spec.uri)
    hop = parse_uri_text(spec.proxy) if spec.proxy else uri
    transport = spec.transport or hop.params.get("transport")
    targets = resolve(hop.host, hop.port, secure=hop.scheme == "sips", transport=transport,
                      dns_server=spec.dns_server, timeout=min(spec.timeout, 5.0))  # fmt: skip
    return uri, targets


def send(spec: RequestSpec) -> SipReqResult:
    """Send ``spec``'s request and collect its replies (see the module docstring).

    Raises :class:`OperationTimeout` when nothing final arrives in ``spec.timeout`` and
    :class:`Unreachable` when every target refuses (ICMP, TCP RST, a failed handshake).
    """
    if not spec.timeout > 0:
        raise BadInput("the timeout must be a positive number of seconds")
    method = spec.method.upper()
    if method in ("ACK", "CANCEL"):
        raise BadInput(f"{method} belongs to another request's transaction: send the INVITE")
    uri, targets = destinations(spec)
    failures = []
    for target in targets:
        try:
            return _Exchange(spec, method, uri, target).run()
        except Unreachable as exc:
            failures.append(exc.message)  # RFC 3263 4.3: on to the next target
    if len(failures) == 1:
        raise Unreachable(failures[0])
    raise Unreachable("every target failed: " + "; ".join(failures))


class _Exchange:
    """One request (with its authentication retry, ACK and BYE) to one target."""

    def __init__(self, spec: RequestSpec, method: str, uri: Any, target: Target) -> None:
        self.spec, self.method, self.uri, self.target = spec, method, uri, target
        self.dest = target.text
        self.result = SipReqResult(method, str(uri), self.dest, target.how, waited=spec.wait)
        self.framer: Any = None
        self.seed = secrets.token_hex(12)
        self.started = time.monotonic()

    def _log(self, direction: str, data: bytes) -> None:
        """Keep a message for --verbose (a retransmission once more, with its time)."""
        if self.spec.verbose:
            ms = round((time.monotonic() - self.started) * 1000, 3)
            text = data.decode("utf-8", "replace")
            self.result.trace.append({"direction": direction, "ms": ms, "message": text})

    # ------------------------------------------------------------------ socket

    def _connect(self) -> socket.socket:
        t = self.target
        family = socket.AF_INET6 if ":" in t.ip else socket.AF_INET
        kind = socket.SOCK_DGRAM if t.proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        try:
            if self.spec.source is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(self.spec.source)
                except OSError as exc:
                    raise BadInput(
                        f"cannot send from {self.spec.source[0]}:"
                        f"{self.spec.source[1]}: {exc.strerror or exc}"
                    ) from None
            sock.settimeout(self.spec.timeout)
            sock.connect((t.ip, t.port))
            if t.proto == "tls":
                sock = self._tls(sock)
        except ConnectionRefusedError:
            sock.close()
            raise Unreachable(f"{self.dest} refused the connection") from None
        except TimeoutError:
            sock.close()
            raise OperationTimeout(f"no connection to {self.dest} within "
                                   f"{self.spec.timeout:g} s") from None  # fmt: skip
        except (BadInput, Unreachable):
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise Unreachable(f"cannot reach {self.dest}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        if t.proto != "udp":
            from kamtool.sip import StreamFramer

            self.framer = StreamFramer(pongs=True)
        return sock

    def _tls(self, sock: socket.socket) -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=self.spec.tls_ca)
        # the certificate must name the hop we resolved: the proxy's host, else the R-URI's
        hop = parse_uri_text(self.spec.proxy) if self.spec.proxy else self.uri
        host = hop.host.strip("[]")
        if not self.spec.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            return ctx.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            raise Unreachable(f"{self.dest}: the server's certificate is not trusted "
                              f"({exc.verify_message})") from None  # fmt: skip
        except ssl.SSLError as exc:
            raise Unreachable(f"{self.dest}: TLS handshake failed ({exc.reason})") from None

    # ------------------------------------------------------------------ messages

    def _build(self, local: tuple[str, int], cseq: int, auth: tuple[str, str] | None):
        from kamtool.sip.headers import make_branch
        from kamtool.sip.message import Request

        spec = self.spec
        host = f"[{local[0]}]" if ":" in local[0] else local[0]
        proto = self.target.proto.upper()
        user = spec.user or spec.from_user
        from_uri = spec.from_uri or f"sip:{user}@{self.uri.host if spec.user else host}"
        to_uri = spec.to_uri or (from_uri if self.method == "REGISTER" else str(self.uri))
        given = {name.lower() for name, _ in spec.headers}
        headers = [
            ("Via", f"SIP/2.0/{proto} {host}:{local[1]};branch="
                    f"{make_branch(self.seed, cseq)};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{from_uri}>;tag={self.seed[:16]}"),
            ("To", f"<{to_uri}>"),
            ("Call-ID", f"{self.seed}@{host}"),
            ("CSeq", f"{cseq} {self.method}"),
        ]  # fmt: skip
        if "contact" not in given and self.method not in ("BYE", "MESSAGE"):
            scheme = "sips" if self.target.proto == "tls" else "sip"
            headers.append(("Contact", f"<{scheme}:{user}@{host}:{local[1]};"
                                       f"transport={self.target.proto}>"))  # fmt: skip
        if auth is not None:
            headers.append(auth)
        headers += spec.headers
        if "user-agent" not in given:
            headers.append(("User-Agent", spec.user_agent))
        if spec.body:
            ctype = spec.content_type or _guess_type(spec.body)
            if "content-type" not in given:
                headers.append(("Content-Type", ctype))
        try:
            return Request(self.method, str(self.uri), headers, spec.body)
        except Exception as exc:  # a header the user gave that SIP cannot carry
            raise BadInput(f"cannot build the request: {exc}") from None

    def _credentials(self, request: Any, response: Any) -> tuple[str, str] | None:
        from kamtool.sip.digest import answer_challenge, select_challenge

        spec = self.spec
        if spec.user is None or spec.password is None:
            return None
        name = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = select_challenge(response.headers.get_all(name))
        if challenge is None:
            return None
        creds = answer_challenge(challenge, method=self.method, uri=str(self.uri),
                                 username=spec.user, password=spec.password,
                                 cnonce=secrets.token_hex(8), body=spec.body)  # fmt: skip
        header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return header, creds.to_header()

    # ------------------------------------------------------------------ the exchange

    def run(self) -> SipReqResult:
        from kamtool.sip.events import Peer
        from kamtool.sip.timers import TimerConfig
        from kamtool.sip.transaction import TransactionLayer

        spec = self.spec
        sock = self._connect()
        try:
            local = sock.getsockname()[:2]
            self.peer = Peer(self.target.proto, self.target.ip, self.target.port)
            self.layer = TransactionLayer(
                TimerConfig(t1=spec.t1, t2=spec.t2, fr_timer=spec.timeout), trying_after=None
            )
            request = self._build(local, 1, None)
            if not spec.wait:
                self._send(sock, request.to_bytes())
                self.result.sent_requests.append(self.method)
                return self.result
            response = self._transaction(sock, request)
            if response.status in (401, 407):
                auth = self._credentials(request, response)
                if auth is not None:
                    request = self._build(local, 2, auth)
                    response = self._transaction(sock, request)
            if self.method == "INVITE" and 200 <= response.status < 300:
                self._end_call(sock, local, request, response)
            return self.result
        finally:
            sock.close()

    def _transaction(self, sock: socket.socket, request: Any) -> Any:
        """Run one client transaction; its final response."""
        from kamtool.sip.events import ResponseReceived, Send, TransactionTimeout

        started = time.monotonic()
        sends = 0
        self.result.sent_requests.append(request.method)
        events = self.layer.send_request(request, self.peer, started)
        while True:
            for ev in events:
                if isinstance(ev, Send):
                    self._send(sock, ev.data)
                    sends += 1
                    if sends > 1 and request.method == self.method:
                        self.result.retransmissions += 1
                elif isinstance(ev, ResponseReceived):
                    resp = ev.response
                    ms = round((time.monotonic() - started) * 1000, 3)
                    server = resp.headers.get("Server") or resp.headers.get("User-Agent")
                    self.result.replies.append(
                        Reply(resp.status, resp.reason, ms, str(resp.cseq), server)
                    )
                    self._log("received", resp.to_bytes())
                    if resp.status >= 200:
                        return resp
                elif isinstance(ev, TransactionTimeout):
                    last = [r.status for r in self.result.replies if r.status < 200]
                    tried = f" ({sends} transmissions)" if self.peer.transport == "udp" else ""
                    raise OperationTimeout(
                        f"no final answer from {self.dest} within {self.spec.timeout:g} s"
                        f"{tried}" + (f"; last provisional {last[-1]}" if last else "")
                    )
            events = self._wait(sock)

    def _wait(self, sock: socket.socket) -> list[Any]:
        from kamtool.sip import ParseError, parse_message

        deadline = self.layer.next_deadline()
        wait = max(0.0, deadline - time.monotonic()) if deadline is not None else self.spec.timeout
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        readable = pending or select.select([sock], [], [], wait)[0]
        now = time.monotonic()
        if not readable:
            return self.layer.handle_timer(now)
        events: list[Any] = []
        for data in self._receive(sock):
            try:
                msg = data if self.framer is not None else parse_message(data)
            except ParseError:
                continue  # not a SIP message: keep waiting for one
            if not msg.is_request:
                events += self.layer.receive(msg, self.peer, now)
        return events

    def _end_call(self, sock: socket.socket, local: tuple[str, int], invite: Any,
                  ok: Any) -> None:  # fmt: skip
        """ACK the 2xx (RFC 3261 13.2.2.4) and hang up with a BYE."""
        from kamtool.sip.dialog import Dialog
        from kamtool.sip.headers import make_branch

        host = f"[{local[0]}]" if ":" in local[0] else local[0]
        dialog = Dialog.from_uac(invite, ok)

        def via(n: str) -> str:
            proto = self.target.proto.upper()
            return f"SIP/2.0/{proto} {host}:{local[1]};branch={make_branch(self.seed, n)};rport"

        ack = dialog.create_request("ACK", via=via("ack"), cseq=invite.cseq.num)
        self._send(sock, ack.to_bytes())
        self.result.sent_requests.append("ACK")
        bye = dialog.create_request("BYE", via=via("bye"))
        try:
            self._transaction(sock, bye)
        except OperationTimeout:
            pass  # the INVITE's answer is the result; a lost BYE is the peer's to expire

    def _send(self, sock: socket.socket, data: bytes) -> None:
        self._log("sent", data)
        try:
            sock.sendall(data) if sock.type == socket.SOCK_STREAM else sock.send(data)
        except ConnectionRefusedError:  # an ICMP error from an earlier datagram
            raise Unreachable(f"{self.dest} refused the request (ICMP port unreachable)") from None
        except OSError as exc:
            raise Unreachable(f"cannot send to {self.dest}: {exc.strerror or exc}") from None

    def _receive(self, sock: socket.socket) -> list[Any]:
        """What one read gives: a datagram (UDP) or complete messages (TCP, TLS)."""
        from kamtool.sip import ParseError
        from kamtool.sip.parser import KeepAlive

        try:
            data = sock.recv(65535)
        except ConnectionRefusedError:
            raise Unreachable(f"{self.dest} refused the request (ICMP port unreachable)") from None
        except (BlockingIOError, ssl.SSLWantReadError):
            return []
        except OSError as exc:
            raise Unreachable(f"connection to {self.dest} failed: {exc.strerror or exc}") from None
        if self.framer is None:
            return [data]
        if not data:
            raise Unreachable(f"{self.dest} closed the connection without answering")
        self.framer.feed(data)
        out = []
        while True:
            try:
                ev = self.framer.next_event()
            except ParseError as exc:
                raise Unreachable(
                    f"{self.dest} broke the stream with a malformed message: {exc}"
                ) from None
            if ev is None:
                return out
            if not isinstance(ev, KeepAlive):
                out.append(ev)


def _guess_type(body: bytes) -> str:
    return "application/sdp" if body.lstrip().startswith(b"v=0") else "text/plain"


# --------------------------------------------------------------------------- through the server


def via_server(rpc: Any, spec: RequestSpec) -> dict[str, Any]:
    """Send through the server with Kamailio's ``tm.t_uac_wait_block``: the server makes
    the request (its sockets, its DNS) and answers with the final reply only."""
    from kamtool.errors import RpcError

    method = spec.method.upper()
    uri = parse_uri_text(spec.uri)
    from_uri = spec.from_uri or f"sip:{spec.user or spec.from_user}@{uri.host}"
    to_uri = spec.to_uri or (from_uri if method == "REGISTER" else str(uri))
    lines = [f"From: <{from_uri}>;tag={secrets.token_hex(8)}", f"To: <{to_uri}>"]
    lines += [f"{name}: {value}" for name, value in spec.headers]
    if spec.body and not any(n.lower() == "content-type" for n, _ in spec.headers):
        lines.append(f"Content-Type: {spec.content_type or _guess_type(spec.body)}")
    nexthop = str(parse_uri_text(spec.proxy)) if spec.proxy else "."
    params = [method, str(uri), nexthop, ".", "\r\n".join(lines) + "\r\n"]
    if spec.body:
        params.append(spec.body.decode("utf-8", "replace"))
    started = time.monotonic()
    try:
        answer = rpc.call("tm.t_uac_wait_block", *params)
    except RpcError as exc:
        if "not found" in exc.message.lower():
            exc.hint = "the server has no tm.t_uac_wait_block (Kamailio's tm module has it)"
        raise
    ms = round((time.monotonic() - started) * 1000, 3)
    status = int(answer.get("code", 0)) if isinstance(answer, dict) else 0
    reason = str(answer.get("text", "")) if isinstance(answer, dict) else str(answer)
    return {"method": method, "uri": str(uri), "via": "tm.t_uac_wait_block",
            "status": status, "reason": reason, "rtt_ms": ms,
            "replies": [{"status": status, "reason": reason, "ms": ms}]}  # fmt: skip
