"""A bounded SIP flood on loopback from a chosen source address (127.0.0.0/8 is all on lo).

Requests go one at a time (send, wait for the reply), so "the first unanswered request"
is well defined; the same code floods kamtool's proxy and a real Kamailio.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

REPLY_WAIT = 1.5  # seconds before a request counts as unanswered (loopback: ~1 ms)


class Flooder:
    """UDP requests from ``source`` to ``target:port`` (OPTIONS keepalives by default);
    for IPv6 give both addresses as IPv6 (``::1``)."""

    def __init__(
        self, source: str, port: int, method: str = "OPTIONS", target: str = "127.0.0.1"
    ) -> None:
        self.source = source
        self.port = port
        self.method = method
        self.target = target
        self.host = f"[{target}]" if ":" in target else target  # in URIs
        family = socket.AF_INET6 if ":" in source else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sport = self.sock.getsockname()[1]
        self.sent = 0
        self.tag = secrets.token_hex(4)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Flooder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, n: int) -> tuple[bytes, str]:
        call_id = f"{self.tag}-{n}@flood"
        me = f"[{self.source}]" if ":" in self.source else self.source
        if self.method == "REGISTER":
            ruri, to = f"sip:{self.host}", f"<sip:flood@{self.host}>"
            extra = f"Contact: <sip:flood@{me}:{self.sport}>\r\nExpires: 60\r\n"
        else:
            ruri, to, extra = f"sip:{self.host}:{self.port}", f"<sip:{self.host}:{self.port}>", ""
        text = (
            f"{self.method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {me}:{self.sport};branch=z9hG4bK{self.tag}{n};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:flood@{self.host}>;tag={self.tag}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {n} {self.method}\r\n"
            f"{extra}"
            "Content-Length: 0\r\n\r\n"
        )
        return text.encode(), call_id

    def one(self, wait: float = REPLY_WAIT) -> int | None:
        """Send the next request; its reply's status code, or None if none came in ``wait``."""
        self.sent += 1
        data, call_id = self._request(self.sent)
        self.sock.sendto(data, (self.target, self.port))
        deadline = time.monotonic() + wait
        needle = f"Call-ID: {call_id}\r\n".encode()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                reply = self.sock.recv(65535)
            except TimeoutError:
                return None
            if needle in reply:  # an older request's late reply is skipped
                return int(reply.split(b" ", 2)[1])

    def until_unanswered(self, limit: int) -> int | None:
        """Send up to ``limit`` requests; the 1-based number (counted from this call) of
        the first one left unanswered, or None when all were answered."""
        for n in range(1, limit + 1):
            if self.one() is None:
                return n
        return None


def leaf(rpc: Callable[..., Any], ip: str) -> dict[str, Any] | None:
    """``ip``'s entry in ``pike.top ALL``, or None."""
    rows = rpc("pike.top", "ALL")["list"]
    return next((r for r in rows if r["ip_addr"] == ip), None)


def sync_to_sampling_unit(flood: Flooder, rpc: Callable[..., Any], limit: int = 400) -> int:
    """Make pike track ``flood.source`` as a full address, then wait until a sampling unit
    begins (its ``leaf_hits_curr`` drops to 0). Returns its ``leaf_hits_prev`` then.

    Pike counts per unit, so the request that crosses the limit depends on where the
    units start; after this the next ``max_hits`` requests fall in one unit (the flood
    takes a fraction of it), which makes the count comparable between servers.
    """
    while leaf(rpc, flood.source) is None:
        assert flood.sent < limit, f"pike never tracked {flood.source}"
        for _ in range(10):
            assert flood.one() is not None, "dropped while warming up"
    seen = leaf(rpc, flood.source)
    while seen is not None and seen["leaf_hits_curr"] > 0:
        time.sleep(0.02)  # polls for a unit boundary; nothing is asserted on time
        seen = leaf(rpc, flood.source)
    assert seen is not None, "the address expired while waiting for a new unit"
    return int(seen["leaf_hits_prev"])
