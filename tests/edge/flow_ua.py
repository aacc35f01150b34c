"""A SIP UA that lives on one flow (RFC 5626): it reaches the proxy over a single TCP
connection or WebSocket and listens nowhere else, as a phone behind a NAT or a browser.
Its Contact names a host that does not exist (``ua.invalid``), so a request can only
reach it over that connection."""

from __future__ import annotations

import itertools
import socket
from typing import Any

from kamtool.sip.digest import answer_challenge, parse_challenge
from kamtool.sip.parser import parse_message

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-00000000a1ce>"
_seq = itertools.count(1)


class FlowUA:
    """``proto`` "tcp" or "ws"; ``port`` the proxy's listener of that transport."""

    def __init__(
        self,
        proto: str,
        port: int,
        user: str = "1001",
        password: str = "",
        instance: str = INSTANCE,
        reg_id: int = 1,
        timeout: float = 5.0,
        call_id: str = "",
    ) -> None:
        self.proto, self.port, self.user, self.password = proto, port, user, password
        self.instance, self.reg_id, self.timeout = instance, reg_id, timeout
        self.ws: Any = None
        self.sock: socket.socket | None = None
        self._buf = b""
        if proto == "ws":
            from websockets.sync.client import connect

            self._ws_cm = connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"],
                                  origin="http://127.0.0.1", open_timeout=timeout)  # fmt: skip
            self.ws = self._ws_cm.__enter__()
            self.local = self.ws.socket.getsockname()[:2]
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            self.local = self.sock.getsockname()[:2]
        self.call_id = call_id or f"flow-{next(_seq)}-{self.local[1]}@ua.invalid"
        self.cseq = 0

    @property
    def contact(self) -> str:
        return (f'<sip:{self.user}@ua.invalid;transport={self.proto};ob>'
                f';+sip.instance="{self.instance}";reg-id={self.reg_id}')  # fmt: skip

    # ------------------------------------------------------------------ wire

    def send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send(data.decode())
        else:
            assert self.sock is not None
            self.sock.sendall(data)

    def recv(self) -> Any:
        """The next SIP message on the flow (TimeoutError when none comes)."""
        if self.ws is not None:
            return parse_message(self.ws.recv(timeout=self.timeout).encode())
        assert self.sock is not None
        while True:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() in (b"content-length", b"l"):
                        length = int(value.strip())
                if len(rest) >= length:
                    self._buf = rest[length:]
                    return parse_message(head + sep + rest[:length])
            data = self.sock.recv(65535)
            if not data:
                raise ConnectionError("the proxy closed the connection")
            self._buf += data

    def recv_final(self) -> Any:
        while True:
            msg = self.recv()
            if msg.is_request or msg.status >= 200:
                return msg

    def close(self) -> None:
        if self.ws is not None:
            self._ws_cm.__exit__(None, None, None)
        elif self.sock is not None:
            self.sock.close()

    # ------------------------------------------------------------------ SIP

    def register(self, expires: int = 600, extra: tuple[str, ...] = (),
                 contact: str | None = None, supported: str = "path, outbound",
                 edge: bool = False) -> Any:  # fmt: skip
        """REGISTER over the flow (answering a digest challenge): the final response.
        ``edge``: as if an edge proxy had relayed it (a Via of its own on top)."""
        uri = "sip:127.0.0.1"
        headers = [f"Contact: {contact or self.contact}", f"Expires: {expires}", *extra]
        if supported:
            headers.append(f"Supported: {supported}")
        resp = self._ask("REGISTER", uri, headers, edge)
        if resp.status == 401 and self.password:
            ch = parse_challenge(resp.headers.get("www-authenticate"))
            creds = answer_challenge(ch, method="REGISTER", uri=uri, username=self.user,
                                     password=self.password, cnonce="0a4f113b")  # fmt: skip
            auth = f"Authorization: {creds.to_header()}"
            resp = self._ask("REGISTER", uri, [*headers, auth], edge)
        return resp

    def _ask(self, method: str, uri: str, headers: list[str], edge: bool = False) -> Any:
        self.send_request(method, uri, headers, edge=edge)
        return self.recv_final()

    def send_request(self, method: str, uri: str, headers: list[str], *, to: str = "",
                     edge: bool = False) -> None:  # fmt: skip
        """A request on the flow (From us, To ``to`` or ourselves, the UA's Call-ID)."""
        self.cseq += 1
        transport = "WS" if self.proto == "ws" else "TCP"
        edge_via = f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-edge-{self.cseq};rport"
        lines = [
            f"{method} {uri} SIP/2.0",
            *([edge_via] if edge else []),
            f"Via: SIP/2.0/{transport} ua.invalid;branch=z9hG4bK-flow-{self.cseq}-{self.local[1]}"
            ";rport",
            f"From: <sip:{self.user}@127.0.0.1>;tag=ua{self.local[1]}",
            f"To: {to or f'<sip:{self.user}@127.0.0.1>'}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            "Max-Forwards: 70",
            *headers,
            "Content-Length: 0",
        ]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def answer(self, req: Any, status: int = 200, reason: str = "OK") -> None:
        """Answer ``req`` on the flow (To tag and, for a 2xx, our Contact)."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for name in ("via", "from", "call-id", "cseq", "record-route"):
            lines += [f"{name}: {v}" for v in req.headers.get_lines(name)]
        lines.append(f"To: {req.headers.get('to')};tag=uas{self.local[1]}")
        if status < 300:
            lines.append(f"Contact: <sip:{self.user}@ua.invalid;transport={self.proto};ob>")
        lines.append("Content-Length: 0")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
