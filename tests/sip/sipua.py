"""A blocking test user agent on one UDP socket, built only from the sans-IO core.

The shell is as thin as the proxy's: datagrams and due timers go into a TransactionLayer,
Send events go out on the socket, everything else queues up for the test to wait for.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Callable
from itertools import count

from kamtool.sip.events import Peer, ResponseReceived, Send
from kamtool.sip.message import Request
from kamtool.sip.parser import parse_message
from kamtool.sip.transaction import TransactionLayer, client_key

_branches = count(1)


class UA:
    """A user agent for tests: the sans-IO layer plus a blocking pump on one UDP socket."""

    def __init__(self, user: str, proxy_port: int) -> None:
        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.proxy = Peer("udp", "127.0.0.1", proxy_port)  # where requests go
        self.layer = TransactionLayer(trying_after=None)
        self.events: deque = deque()

    def close(self) -> None:
        self.sock.close()

    def via(self) -> str:
        return f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-kt-{next(_branches)};rport"

    def perform(self, events) -> None:
        for e in events:
            if isinstance(e, Send):
                self.sock.sendto(e.data, (e.destination.host, e.destination.port))
            else:
                self.events.append(e)

    def wait(self, match: Callable[[object], bool], timeout: float = 10.0):
        """Pump the socket and timers until an event satisfying ``match`` arrives."""
        found: list = []

        def take() -> bool:
            for e in self.events:
                if match(e):
                    self.events.remove(e)
                    found.append(e)
                    return True
            return False

        self.run_until(take, timeout)
        return found[0]

    def run_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Feed datagrams and due timers to the layer until ``condition()`` holds."""
        end = time.monotonic() + timeout
        while not condition():
            now = time.monotonic()
            if now >= end:
                raise AssertionError(f"{self.user}: timed out; events {list(self.events)}")
            deadline = self.layer.next_deadline()
            wait = min(end, deadline if deadline is not None else end) - now
            readable, _, _ = select.select([self.sock], [], [], max(wait, 0))
            now = time.monotonic()
            if readable:
                data, addr = self.sock.recvfrom(65535)
                msg = parse_message(data)
                self.perform(self.layer.receive(msg, Peer("udp", addr[0], addr[1]), now))
            self.perform(self.layer.handle_timer(now))

    def request(self, method: str, uri: str, to: str, cseq: int, call_id: str, **extra) -> Request:
        headers = [
            ("Via", self.via()),
            ("From", f"<sip:{self.user}@127.0.0.1>;tag={self.user}-tag-{call_id}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:{self.user}@127.0.0.1:{self.port}>"),
            ("Max-Forwards", "70"),
        ]
        headers.extend(extra.items())
        return Request(method, uri, [(k.replace("_", "-"), v) for k, v in headers])

    def send(self, request: Request) -> None:
        self.perform(self.layer.send_request(request, self.proxy, time.monotonic()))

    def final(self, request: Request) -> ResponseReceived:
        key = client_key(request)
        return self.wait(
            lambda e: isinstance(e, ResponseReceived) and e.key == key and e.response.status >= 200
        )
