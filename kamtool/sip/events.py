"""Events the transaction layer hands back to its caller (h11/aioquic style).

Every ``TransactionLayer`` call returns a list of these; the caller performs the ``Send``
events on its sockets and hands the others to the transaction user (proxy core, UA).
All are frozen slotted dataclasses: cheap to build, safe to keep.

``key`` identifies a transaction (``TxKey``); the same key is used in every event about it
and in ``TransactionLayer.send_response`` / ``cancel`` / ``transport_error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "RELIABLE_TRANSPORTS",
    "Event",
    "Peer",
    "RequestReceived",
    "ResponseReceived",
    "Send",
    "Terminated",
    "TransactionTimeout",
    "TransportError",
    "TxKey",
]

#: Transports without retransmissions (RFC 3261 section 17: timers A, E, G are not used).
RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "sctp", "ws", "wss"})

#: A transaction identifier. Client: ``(branch, method)``; server:
#: ``(branch, sent-by host, sent-by port, method)`` with ACK counted as INVITE
#: (RFC 3261 sections 17.1.3 and 17.2.3); RFC 2543 server transactions get a longer tuple.
TxKey = tuple


class Peer(NamedTuple):
    """Where a message came from or goes to: transport ("udp", "tcp", ...), host, port."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS


@dataclass(frozen=True, slots=True)
class Send:
    """Put ``data`` on the wire to ``destination``."""

    data: bytes
    destination: Peer
    key: TxKey | None = None  # the transaction that sent it, for transport_error()


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU (retransmissions never show up here).

    ``key`` is its server transaction, None for an ACK that matched no transaction (the ACK
    of a 2xx, which is end to end: RFC 3261 section 17.1.1.3). For a CANCEL, ``cancels``
    is the key of the INVITE server transaction it matches (section 9.2), or None (-> 481).
    """

    request: Any
    source: Peer
    key: TxKey | None
    cancels: TxKey | None = None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for the TU. ``key`` is None for a stray response matching no client
    transaction (section 18.1.2: passed to the core, e.g. a proxy forwards 2xx retransmissions
    statelessly); absorbed retransmissions never show up here."""

    response: Any
    source: Peer | None
    key: TxKey | None


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer B or F (client: treat as a 408 from this branch) or H (server: the ACK never came)."""

    key: TxKey
    timer: str


@dataclass(frozen=True, slots=True)
class TransportError:
    """The transport reported a failure sending for this transaction (section 17.1.4/17.2.4);
    a client transaction treats it like a 503."""

    key: TxKey
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is gone; the TU can drop state it kept for it."""

    key: TxKey


Event = Send | RequestReceived | ResponseReceived | TransactionTimeout | TransportError | Terminated
