"""Small SIP peers of the KSR tests: a UDP client that answers digest challenges, and
a UDP socket that catches what the proxy relays."""

from __future__ import annotations

import socket
from typing import Any

from tests.proxy.harness import USERS, UdpClient


def ask_authenticated(client: UdpClient, method: str, uri: str, user: str = "1001",
                      **kw: Any) -> Any:  # fmt: skip
    """Send a request; answer a 407 with ``user``'s credentials; the final response."""
    from kamtool.sip.digest import answer_challenge, parse_challenge

    call_id = kw.pop("call_id", None) or f"auth-{client.port}-{method}-{uri}@127.0.0.1"
    headers = kw.pop("headers", [])
    first = client.ask(method, uri, from_user=user, call_id=call_id, cseq=1,
                       headers=headers, **kw)  # fmt: skip
    if first.status != 407:
        return first
    ch = parse_challenge(first.headers.get("proxy-authenticate"))
    creds = answer_challenge(ch, cnonce="0a4f113b", method=method, uri=uri, username=user,
                             password=USERS[user])  # fmt: skip
    return client.ask(method, uri, from_user=user, call_id=call_id, cseq=2,
                      headers=[*headers, f"Proxy-Authorization: {creds.to_header()}"],
                      **kw)  # fmt: skip


class Catcher:
    """A UDP socket on ``host`` that receives what the proxy relays to it."""

    def __init__(self, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(timeout)
        self.host, self.port = self.sock.getsockname()

    def recv(self) -> Any:
        from kamtool.sip.parser import parse_message

        data, _ = self.sock.recvfrom(65535)
        return parse_message(data)

    def close(self) -> None:
        self.sock.close()
