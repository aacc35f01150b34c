"""In-memory harness for the sans-IO SIP core: two TransactionLayers and a lossy wire.

Everything is driven by an explicit clock; no sockets, no sleeps (aioquic ``roundtrip`` style).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kamtool.sip.events import Peer, Send
from kamtool.sip.message import Request, make_response
from kamtool.sip.parser import parse_message
from kamtool.sip.timers import TimerConfig
from kamtool.sip.transaction import TransactionLayer

UAC = Peer("udp", "127.0.0.1", 5070)
UAS = Peer("udp", "127.0.0.1", 5060)
FAST = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


def request(
    method: str = "OPTIONS",
    *,
    branch: str = "z9hG4bK-test-1",
    cseq: int = 1,
    via_host: str = "127.0.0.1:5070",
    transport: str = "UDP",
    to_tag: str | None = None,
    from_tag: str = "caller-tag",
    uri: str = "sip:1002@127.0.0.1:5060",
    call_id: str = "call-1@127.0.0.1",
    routes: Iterable[str] = (),
    rport: bool = True,
) -> Request:
    """A minimal valid request as a UAC would send it."""
    via = f"SIP/2.0/{transport} {via_host};branch={branch}" + (";rport" if rport else "")
    to = "<sip:1002@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    headers = [
        ("Via", via),
        ("From", f"<sip:1001@127.0.0.1>;tag={from_tag}"),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Max-Forwards", "70"),
    ]
    headers.extend(("Route", r) for r in routes)
    return Request(method, uri, headers)


def sends(events: Iterable[object]) -> list[Send]:
    return [e for e in events if isinstance(e, Send)]


def of(events: Iterable[object], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def deliver(events: Iterable[object], layer: TransactionLayer, source: Peer, now: float) -> list:
    """Put every Send of ``events`` through the parser into ``layer``; its events come back."""
    out: list = []
    for s in sends(events):
        out.extend(layer.receive(parse_message(s.data), source, now))
    return out


def respond(layer: TransactionLayer, key, req: Request, status: int, now: float, tag="callee"):
    return layer.send_response(key, make_response(req, status, to_tag=tag), now)


class Wire:
    """A lossy, duplicating wire between a client layer and a server layer with a fixed delay.

    ``fate(n)`` decides what happens to the n-th packet: 0 lost, 1 delivered, 2 duplicated.
    ``server_tu`` answers each new request (server events -> list of new events).
    """

    def __init__(
        self,
        client: TransactionLayer,
        server: TransactionLayer,
        fate: Callable[[int], int] = lambda n: 1,
        delay: float = 0.01,
    ) -> None:
        self.client, self.server = client, server
        self.fate, self.delay = fate, delay
        self.in_flight: list[tuple[float, int, bytes, str]] = []  # (when, n, data, to)
        self.count = 0
        self.client_events: list = []
        self.server_events: list = []
        self.now = 0.0

    def push(self, events: Iterable[object], to: str) -> None:
        for s in sends(events):
            self.count += 1
            copies = self.fate(self.count)
            for _ in range(copies):
                self.in_flight.append((self.now + self.delay, self.count, s.data, to))

    def run(self, server_tu: Callable[[list], list], until: float = 120.0) -> None:
        """Advance time packet by packet and timer by timer until nothing is left to do."""
        while self.now <= until:
            deadlines = [d for d in (self.client.next_deadline(), self.server.next_deadline()) if d]
            nxt = min([p[0] for p in self.in_flight] + deadlines, default=None)
            if nxt is None:
                return
            self.now = max(self.now, nxt)
            due = [p for p in self.in_flight if p[0] <= self.now]
            self.in_flight = [p for p in self.in_flight if p[0] > self.now]
            for _, _, data, to in sorted(due):
                if to == "server":
                    ev = self.server.receive(parse_message(data), UAC, self.now)
                    self._server(ev, server_tu)
                else:
                    ev = self.client.receive(parse_message(data), UAS, self.now)
                    self.client_events.extend(ev)
                    self.push(ev, "server")
            ev = self.client.handle_timer(self.now)
            self.client_events.extend(ev)
            self.push(ev, "server")
            self._server(self.server.handle_timer(self.now), server_tu)

    def _server(self, events: list, server_tu: Callable[[list], list]) -> None:
        self.server_events.extend(events)
        self.push(events, "client")
        more = server_tu(events)
        self.server_events.extend(more)
        self.push(more, "client")
