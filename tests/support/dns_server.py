"""A tiny authoritative DNS server on loopback UDP for RFC 3263 and dispatcher DNS tests::

    with DnsServer([("sip.test", "A", "127.0.0.1")]) as d:  # (name, type, rdata text)
        d.port                                   # sipreq --dns-server 127.0.0.1:PORT
        d.records[("gw.test.", "A")] = ["127.0.0.5"]  # added (or changed) later
        d.hold.set()                             # answers wait until hold is cleared

Names are absolute and lower case in ``records`` and ``queries`` (``"gw.test."``); the
constructor takes them with or without the final dot. Unknown names get NXDOMAIN, a
known name without records of the asked type an empty answer; ``queries`` counts what
was asked. Built on dnspython's message classes.
"""

from __future__ import annotations

import collections
import socket
import threading
from collections.abc import Iterable

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


class DnsServer:
    """The server; ``records`` maps (name, type) to rdata texts."""

    def __init__(self, records: Iterable[tuple[str, str, str]] = ()) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        for name, rdtype, rdata in records:
            self.records.setdefault((_absolute(name), rdtype), []).append(rdata)
        self.queries: collections.Counter[tuple[str, str]] = collections.Counter()
        self.hold = threading.Event()
        self.held = threading.Event()  # set while a query waits on hold
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.hold.clear()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            key = (_absolute(question.name.to_text()), dns.rdatatype.to_text(question.rdtype))
            self.queries[key] += 1
            while self.hold.is_set() and not self._stop.is_set():
                self.held.set()
                self._stop.wait(0.05)
            self.held.clear()
            reply = dns.message.make_response(query)
            values = self.records.get(key)
            if values:
                reply.answer.append(dns.rrset.from_text_list(key[0], 30, "IN", key[1], values))
            elif not any(name == key[0] for name, _ in self.records):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self._sock.sendto(reply.to_wire(), peer)
