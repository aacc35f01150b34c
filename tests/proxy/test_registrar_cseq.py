"""The registrar's rules the interop battery (tests/interop/test_register_edges.py) cannot
time or configure against the reference cfg: the end of the retransmission window of
the same Call-ID and CSeq (usrloc's cseq_delay) and max_contacts with a contact given
twice. In-process, on a memory-only location store with a clock of our own."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from kamtool.proxy.config import ProxyConfig
from kamtool.proxy.registrar import CSEQ_DELAY, Registrar
from kamtool.proxy.stats import Statistics
from kamtool.proxy.usrloc import LocationStore
from kamtool.sip.parser import parse_message

ENDPOINT = SimpleNamespace(proto="udp", listen=SimpleNamespace(socket_str="udp:127.0.0.1:5060"))


class Clock:
    """A settable clock for the store."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def register(contacts: list[str], *, cseq: int, call_id: str = "c1") -> object:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1",
        "From: <sip:1001@127.0.0.1>;tag=a",
        "To: <sip:1001@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
        "Content-Length: 0",
    ]
    return parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())


def make(**config: object) -> tuple[Registrar, LocationStore, Clock]:
    clock = Clock()
    store = LocationStore(clock=clock)
    registrar = Registrar(replace(ProxyConfig(), **config), store, Statistics())
    return registrar, store, clock


def save(registrar: Registrar, req: object) -> tuple[int, str]:
    status, reason, _ = registrar.save(req, ENDPOINT, ("127.0.0.1", 5070))
    return status, reason


def test_same_cseq_is_a_retransmission_only_within_the_delay():
    registrar, store, clock = make()
    contact = "<sip:1001@127.0.0.1:5070>;expires=600"
    assert save(registrar, register([contact], cseq=5)) == (200, "OK")
    clock.now += CSEQ_DELAY - 1
    assert save(registrar, register(["<sip:1001@127.0.0.1:5070>;expires=0"], cseq=5))[0] == 200
    assert len(store.lookup("1001")) == 1  # the retransmission changed nothing
    clock.now += 2
    gone = register(["<sip:1001@127.0.0.1:5070>;expires=0"], cseq=5)
    assert save(registrar, gone) == (400, "Invalid CSeq number")
    assert len(store.lookup("1001")) == 1
    assert save(registrar, register(["<sip:1001@127.0.0.1:5070>;expires=0"], cseq=6))[0] == 200
    assert store.lookup("1001") == []


def test_a_lower_cseq_fails_the_whole_request():
    """Nothing of the request is applied, not even its other, new contacts."""
    registrar, store, _ = make()
    assert save(registrar, register(["<sip:1001@127.0.0.1:5070>"], cseq=5))[0] == 200
    both = register(["<sip:1001@127.0.0.1:5071>", "<sip:1001@127.0.0.1:5070>"], cseq=4)
    assert save(registrar, both) == (400, "Invalid CSeq number")
    assert [b.contact for b in store.lookup("1001")] == ["sip:1001@127.0.0.1:5070"]


def test_max_contacts_counts_a_repeated_contact_once():
    registrar, store, _ = make(max_contacts=1)
    twice = register(["<sip:1001@127.0.0.1:5070>, <sip:1001@127.0.0.1:5070>;expires=30"], cseq=1)
    assert save(registrar, twice) == (200, "OK")
    assert len(store.lookup("1001")) == 1
    other = register(["<sip:1001@127.0.0.1:5071>"], cseq=2)
    assert save(registrar, other) == (403, "Too many registered contacts")
