"""A DNS server on loopback that answers from a zone given as text, for RFC 3263 tests
(``kamtool sipreq --dns-server 127.0.0.1:PORT``). Built on dnspython's message classes;
anything not in the zone gets NXDOMAIN."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsStub:
    """``with DnsStub(records) as dns: dns.port``; records: (name, type, rdata text)."""

    def __init__(self, records: list[tuple[str, str, str]]) -> None:
        self.records = records
        self.questions: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            q = query.question[0]
            name, rdtype = q.name.to_text().rstrip(".").lower(), dns.rdatatype.to_text(q.rdtype)
            self.questions.append((name, rdtype))
            reply = dns.message.make_response(query)
            answers = [r for r in self.records if r[0] == name and r[1] == rdtype]
            if answers:
                rrset = dns.rrset.from_text(name + ".", 60, "IN", rdtype, *[a[2] for a in answers])
                reply.answer.append(rrset)
            elif not any(r[0] == name for r in self.records):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), addr)
