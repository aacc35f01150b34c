"""A tiny authoritative DNS server on loopback UDP for the dispatcher's DNS tests::

    with DnsServer() as dns_srv:                    # dns_srv.port
        dns_srv.records[("gw.test.", "A")] = ["127.0.0.5"]
        dns_srv.records[("_sip._udp.gw.test.", "SRV")] = ["10 60 5070 host1.test."]
        dns_srv.hold.set()                          # answers wait until hold is cleared

Unknown names get NXDOMAIN; ``queries`` counts what was asked.
"""

from __future__ import annotations

import collections
import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
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
            key = (question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
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
