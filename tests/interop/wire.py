"""A minimal SIP peer for the interop battery, written independently of kamtool.sip (an outside
tester's view): it sends hand-written requests over UDP or TCP and reads replies and requests
with its own small parser, so that a bug shared by kamtool's parser and its proxy cannot hide."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


@dataclass
class Msg:
    """A parsed SIP message: first line, headers in order (lower-case names), body."""

    first: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def status(self) -> int:
        """The status code of a reply (0 for a request)."""
        parts = self.first.split(" ", 2)
        return int(parts[1]) if parts[0].startswith("SIP/") else 0

    @property
    def reason(self) -> str:
        return self.first.split(" ", 2)[2] if self.status else ""

    @property
    def method(self) -> str:
        return "" if self.status else self.first.split(" ", 1)[0]

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (comma-separated values not split)."""
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (``default`` when absent)."""
        values = self.all(name)
        return values[0] if values else default


_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "k": "supported"}  # fmt: skip


def parse(data: bytes) -> Msg:
    """Parse one whole SIP message."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    msg = Msg(lines[0], body=body)
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:
            name, value = msg.headers[-1]
            msg.headers[-1] = (name, value + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        msg.headers.append((_COMPACT.get(name, name), value.strip()))
    return msg


class Peer:
    """One SIP endpoint on 127.0.0.1 over ``udp`` or ``tcp`` talking to ``server_port``.

    Over TCP it connects to the server once and reads framed messages from that stream; it
    also listens on its own port (same number) for connections the server opens to it."""

    def __init__(self, transport: str, server_port: int, timeout: float = 3.0) -> None:
        self.transport = transport
        self.server = ("127.0.0.1", server_port)
        self.timeout = timeout
        self._buf = b""
        self._n = 0
        # in branches and Call-IDs: a port the OS hands out again must not repeat a request
        # a server still holds a transaction for (it would be absorbed as a retransmission)
        self._token = os.urandom(3).hex()
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            self.sock.settimeout(timeout)
            self.listener = None
        else:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(4)
            self.listener.settimeout(timeout)
            self.port = self.listener.getsockname()[1]
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.sock.bind(("127.0.0.1", self.port))  # our connections leave from our port
            self.sock.settimeout(timeout)
            self.sock.connect(self.server)
        self._streams: list[socket.socket] = [self.sock] if transport == "tcp" else []

    def close(self) -> None:
        for s in self._streams:
            s.close()
        if self.transport == "udp":
            self.sock.close()
        if self.listener is not None:
            self.listener.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def via_transport(self) -> str:
        return self.transport.upper()

    def contact(self, user: str) -> str:
        return f"<sip:{user}@127.0.0.1:{self.port};transport={self.transport}>"

    def request(self, method: str, uri: str, *, from_user: str = "1001", to: str | None = None,
                headers: list[str] | None = None, cseq: int = 1, call_id: str | None = None,
                max_forwards: int | None = 70, body: str = "") -> bytes:  # fmt: skip
        """Wire bytes of a request; ``max_forwards=None`` leaves the header out."""
        self._n += 1
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{self.via_transport} 127.0.0.1:{self.port}"
            f";branch=z9hG4bK-ib-{self.port}-{self._token}-{self._n};rport",
            f"From: <sip:{from_user}@127.0.0.1>;tag=ib{self._n}",
            f"To: {to or f'<{uri}>'}",
            f"Call-ID: {call_id or f'ib-{self.port}-{self._token}-{self._n}@127.0.0.1'}",
            f"CSeq: {cseq} {method}",
        ]  # fmt: skip
        if max_forwards is not None:
            lines.append(f"Max-Forwards: {max_forwards}")
        lines += [*(headers or []), f"Content-Length: {len(body.encode())}"]
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def send(self, data: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def reply_to(self, req: Msg, status: int, reason: str, *, to_tag: str = "uas1",
                 extra: list[str] | None = None) -> None:  # fmt: skip
        """Answer ``req`` (a request this peer received) statelessly (with the ``extra``
        header lines)."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for name, value in req.headers:
            if name in ("via", "from", "call-id", "cseq", "record-route"):
                lines.append(f"{name.title()}: {value}")
            elif name == "to":
                lines.append(
                    f"To: {value};tag={to_tag}" if ";tag=" not in value else f"To: {value}"
                )
        lines += [*(extra or []), "Content-Length: 0"]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.server)  # Via of the proxy's hop is 127.0.0.1:server
        else:
            self._last_stream.sendall(data)

    def recv(self) -> Msg:
        """The next message (reply or request) from the server; raises TimeoutError."""
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65535)
            return parse(data)
        return self._recv_stream()

    def _recv_stream(self) -> Msg:
        import select

        while True:
            msg = self._frame()
            if msg is not None:
                return msg
            socks: list[socket.socket] = [*self._streams, self.listener]  # type: ignore[list-item]
            ready, _, _ = select.select(socks, [], [], self.timeout)
            if not ready:
                raise TimeoutError("no SIP message")
            for s in ready:
                if s is self.listener:
                    conn, _ = s.accept()
                    conn.settimeout(self.timeout)
                    self._streams.append(conn)
                    continue
                chunk = s.recv(65535)
                if not chunk:
                    self._streams.remove(s)
                    continue
                self._buf += chunk
                self._last_stream = s

    def _frame(self) -> Msg | None:
        self._buf = self._buf.lstrip(b"\r\n")
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = parse(self._buf[: end + 4])
        length = int(head.get("content-length") or 0)
        total = end + 4 + length
        if len(self._buf) < total:
            return None
        data, self._buf = self._buf[:total], self._buf[total:]
        return parse(data)

    def ask(self, data: bytes) -> Msg:
        """Send a request, return the first final reply (100 Trying skipped)."""
        self.send(data)
        return self.final()

    def final(self) -> Msg:
        """The next final reply (provisional ones and requests skipped)."""
        while True:
            msg = self.recv()
            if msg.status >= 200:
                return msg

    def next_request(self) -> Msg:
        """The next request (replies skipped)."""
        while True:
            msg = self.recv()
            if not msg.status:
                return msg

    def silence(self, wait: float = 1.0) -> bool:
        """True when nothing arrives within ``wait`` seconds."""
        old = self.timeout
        self.timeout = wait
        if self.transport == "udp":
            self.sock.settimeout(wait)
        try:
            self.recv()
        except TimeoutError:
            return True
        finally:
            self.timeout = old
            if self.transport == "udp":
                self.sock.settimeout(old)
        return False


def digest_answer(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """An Authorization value answering a ``WWW-Authenticate``/``Proxy-Authenticate``
    challenge (MD5, ``qop=auth`` when offered), computed here per RFC 2617."""
    import hashlib
    import re

    f = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()  # RFC 2617 digest

    ha1, ha2 = md5(f"{user}:{f['realm']}:{password}"), md5(f"{method}:{uri}")
    common = f'Digest username="{user}", realm="{f["realm"]}", nonce="{f["nonce"]}", uri="{uri}"'
    if "qop" in f:
        resp = md5(f"{ha1}:{f['nonce']}:00000001:0a4f113b:auth:{ha2}")
        return (
            f'{common}, response="{resp}", qop=auth, nc=00000001, cnonce="0a4f113b", algorithm=MD5'
        )
    nonce = f["nonce"]
    return f'{common}, response="{md5(f"{ha1}:{nonce}:{ha2}")}", algorithm=MD5'


def register(peer: Peer, user: str, headers: list[str], *, call_id: str | None = None) -> Msg:
    """REGISTER ``user`` (password ``secret<user>``) with ``headers``; answer a 401 once."""
    uri = f"sip:127.0.0.1:{peer.server[1]}"
    call_id = call_id or f"reg-{user}-{peer.port}@127.0.0.1"
    to = f"<sip:{user}@127.0.0.1>"
    first = peer.ask(peer.request("REGISTER", uri, from_user=user, to=to, headers=headers,
                                  call_id=call_id, cseq=1))  # fmt: skip
    if first.status != 401:
        return first
    auth = digest_answer(
        first.get("www-authenticate") or "", "REGISTER", uri, user, f"secret{user}"
    )
    return peer.ask(peer.request("REGISTER", uri, from_user=user, to=to, call_id=call_id, cseq=2,
                                 headers=[*headers, f"Authorization: {auth}"]))  # fmt: skip


def contacts(msg: Msg) -> list[str]:
    """Every contact of a reply, whether sent as one header or several."""
    out: list[str] = []
    for value in msg.all("contact"):
        out += [c.strip() for c in value.split(",") if c.strip()]
    return out
