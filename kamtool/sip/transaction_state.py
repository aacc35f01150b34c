"""The state of one transaction (:class:`_Tx`) and the four RFC 3261 state machines (with
RFC 6026's "Accepted" states) that drive it, as tables ``(state, input) -> (next state,
actions)`` and in the compiled form :class:`kamtool.sip.transaction.TransactionLayer` runs.

Inputs are the class of a received or TU-sent response (``1xx``, ``2xx``, ``3xx+``), a
received request retransmission (``req``) or ACK (``ack``), a fired timer (``A`` .. ``M``)
and ``transport_error``; an input missing from a table is absorbed.
"""

from __future__ import annotations

from .events import Peer, TxKey
from .message import Request

# States (plain interned strings: cheaper to hash than Enum members on the hot path).
CALLING = "Calling"
TRYING = "Trying"
PROCEEDING = "Proceeding"
COMPLETED = "Completed"
CONFIRMED = "Confirmed"
ACCEPTED = "Accepted"
TERMINATED = "Terminated"

# Transaction kinds
ICT, NICT, IST, NIST = "ict", "nict", "ist", "nist"

# Inputs besides the timer letters
R1XX, R2XX, RFINAL = "1xx", "2xx", "3xx+"  # responses received (client) or sent by the TU (server)
REQ, ACK_IN, TERR = "req", "ack", "transport_error"

# --------------------------------------------------------------------------- tables
# Actions: pass_up (response to TU), retransmit (request), send (TU's response, remembered),
# resend (last response), ack (build+send ACK for non-2xx), resend_ack, timeout (event),
# terr (event), start_X / stop_X / double_X (X capped at T2 for E and G) / reset_E (E = T2).

_ICT = {
    # 17.1.1.2: Calling. Timer A retransmits (doubling, no cap), Timer B gives up.
    (CALLING, "A"): (CALLING, ("retransmit", "double_A")),
    (CALLING, "B"): (TERMINATED, ("timeout",)),
    # A provisional stops retransmissions; B applies to Calling only. Timer C (proxies only,
    # 16.6 step 11) starts with the first provisional and restarts with each one.
    (CALLING, R1XX): (PROCEEDING, ("stop_A", "stop_B", "pass_up", "start_C")),
    # RFC 6026 section 8.4: a 2xx moves to Accepted (Timer M) instead of Terminated, so 2xx
    # retransmissions keep flowing to the TU and are not treated as strays.
    (CALLING, R2XX): (ACCEPTED, ("stop_A", "stop_B", "pass_up", "start_M")),
    # 17.1.1.2 / 17.1.1.3: 300-699: ACK generated here, hop by hop; Timer D absorbs retransmits.
    (CALLING, RFINAL): (COMPLETED, ("stop_A", "stop_B", "ack", "pass_up", "start_D")),
    (CALLING, TERR): (TERMINATED, ("terr",)),  # 17.1.4
    (PROCEEDING, R1XX): (PROCEEDING, ("pass_up", "start_C")),
    (PROCEEDING, R2XX): (ACCEPTED, ("stop_C", "stop_B", "pass_up", "start_M")),
    (PROCEEDING, RFINAL): (COMPLETED, ("stop_C", "stop_B", "ack", "pass_up", "start_D")),
    (PROCEEDING, TERR): (TERMINATED, ("terr",)),
    # 16.8: on Timer C the proxy CANCELs the branch (TransactionLayer.cancel) and answers
    # 408 itself if nothing better came. So that a branch ignoring the CANCEL cannot hold
    # the transaction forever, Timer B runs again and then ends it.
    (PROCEEDING, "C"): (PROCEEDING, ("timeout", "start_B")),
    (PROCEEDING, "B"): (TERMINATED, ("timeout",)),
    # Completed: final-response retransmissions re-send the ACK and are not passed up.
    (COMPLETED, RFINAL): (COMPLETED, ("resend_ack",)),
    (COMPLETED, "D"): (TERMINATED, ()),
    (COMPLETED, TERR): (TERMINATED, ("terr",)),
    # RFC 6026 section 7.2: Accepted passes every 2xx (retransmission or another fork) up.
    (ACCEPTED, R2XX): (ACCEPTED, ("pass_up",)),
    (ACCEPTED, "M"): (TERMINATED, ()),
}

_NICT = {
    # 17.1.2.2: Trying. Timer E doubles up to T2; Timer F gives up.
    (TRYING, "E"): (TRYING, ("retransmit", "double_E")),
    (TRYING, "F"): (TERMINATED, ("timeout",)),
    (TRYING, R1XX): (PROCEEDING, ("pass_up",)),
    (TRYING, R2XX): (COMPLETED, ("stop_E", "stop_F", "pass_up", "start_K")),
    (TRYING, RFINAL): (COMPLETED, ("stop_E", "stop_F", "pass_up", "start_K")),
    (TRYING, TERR): (TERMINATED, ("terr",)),
    # Proceeding: retransmit every T2.
    (PROCEEDING, "E"): (PROCEEDING, ("retransmit", "reset_E")),
    (PROCEEDING, "F"): (TERMINATED, ("timeout",)),
    (PROCEEDING, R1XX): (PROCEEDING, ("pass_up",)),
    (PROCEEDING, R2XX): (COMPLETED, ("stop_E", "stop_F", "pass_up", "start_K")),
    (PROCEEDING, RFINAL): (COMPLETED, ("stop_E", "stop_F", "pass_up", "start_K")),
    (PROCEEDING, TERR): (TERMINATED, ("terr",)),
    # Completed: response retransmissions absorbed until Timer K.
    (COMPLETED, "K"): (TERMINATED, ()),
}

_IST = {
    # 17.2.1: Proceeding. A request retransmission re-sends the last provisional (if any).
    # "T": the TU said nothing for 200 ms, so the transaction sends 100 Trying itself.
    (PROCEEDING, REQ): (PROCEEDING, ("resend",)),
    (PROCEEDING, "T"): (PROCEEDING, ("trying",)),
    (PROCEEDING, R1XX): (PROCEEDING, ("stop_T", "send")),
    # RFC 6026 section 7.1: a 2xx moves to Accepted (Timer L); the TU retransmits 2xx itself.
    (PROCEEDING, R2XX): (ACCEPTED, ("stop_T", "send", "start_L")),
    (PROCEEDING, RFINAL): (COMPLETED, ("stop_T", "send", "start_G", "start_H")),
    (PROCEEDING, TERR): (TERMINATED, ("terr",)),
    # Completed: Timer G retransmits the final response (doubling up to T2), Timer H gives
    # up waiting for the ACK; the ACK moves to Confirmed.
    (COMPLETED, REQ): (COMPLETED, ("resend",)),
    (COMPLETED, "G"): (COMPLETED, ("resend", "double_G")),
    (COMPLETED, "H"): (TERMINATED, ("timeout",)),
    (COMPLETED, ACK_IN): (CONFIRMED, ("stop_G", "stop_H", "start_I")),
    (COMPLETED, TERR): (TERMINATED, ("terr",)),
    # Confirmed: ACK retransmissions absorbed until Timer I.
    (CONFIRMED, "I"): (TERMINATED, ()),
    # Accepted: INVITE retransmissions absorbed, TU's 2xx retransmissions sent, an ACK that
    # matches (only possible with RFC 2543 matching) goes to the TU, Timer L ends it.
    (ACCEPTED, R2XX): (ACCEPTED, ("send",)),
    (ACCEPTED, ACK_IN): (ACCEPTED, ("pass_up",)),
    (ACCEPTED, TERR): (ACCEPTED, ("terr",)),
    # "R": the UA-core 2xx retransmission of 13.3.1.4 (T1 doubling up to T2), run here for a
    # UAS that asks for it with send_response(..., retransmit_2xx=True), until the ACK.
    (ACCEPTED, "R"): (ACCEPTED, ("resend", "double_R")),
    (ACCEPTED, "L"): (TERMINATED, ("no_ack",)),
}

_NIST = {
    # 17.2.2: Trying absorbs retransmissions (nothing to re-send yet).
    (TRYING, R1XX): (PROCEEDING, ("send",)),
    (TRYING, R2XX): (COMPLETED, ("send", "start_J")),
    (TRYING, RFINAL): (COMPLETED, ("send", "start_J")),
    (TRYING, TERR): (TERMINATED, ("terr",)),
    (PROCEEDING, REQ): (PROCEEDING, ("resend",)),
    (PROCEEDING, R1XX): (PROCEEDING, ("send",)),
    (PROCEEDING, R2XX): (COMPLETED, ("send", "start_J")),
    (PROCEEDING, RFINAL): (COMPLETED, ("send", "start_J")),
    (PROCEEDING, TERR): (TERMINATED, ("terr",)),
    # Completed: retransmissions get the final response again; later TU responses discarded.
    (COMPLETED, REQ): (COMPLETED, ("resend",)),
    (COMPLETED, "J"): (TERMINATED, ()),
    (COMPLETED, TERR): (TERMINATED, ("terr",)),
}

# The tables above are for people; the machine runs them compiled to (opcode, timer) pairs.
(PASS_UP, SEND_RESP, TRYING_100, RESEND, RETRANSMIT, ACK, RESEND_ACK, TIMEOUT, TERR_EV) = range(9)
START, STOP, DOUBLE, RESET, NO_ACK = range(9, 14)
_SIMPLE_OPS = {
    "pass_up": PASS_UP,
    "send": SEND_RESP,
    "trying": TRYING_100,
    "resend": RESEND,
    "retransmit": RETRANSMIT,
    "ack": ACK,
    "resend_ack": RESEND_ACK,
    "timeout": TIMEOUT,
    "terr": TERR_EV,
    "no_ack": NO_ACK,
}
_TIMER_OPS = {"start": START, "stop": STOP, "double": DOUBLE, "reset": RESET}


def _compile(table: dict) -> dict:
    def op(action: str) -> tuple[int, str | None]:
        if action in _SIMPLE_OPS:
            return (_SIMPLE_OPS[action], None)
        verb, name = action.split("_")
        return (_TIMER_OPS[verb], name)

    return {k: (state, tuple(op(a) for a in acts)) for k, (state, acts) in table.items()}


_TABLES = {ICT: _compile(_ICT), NICT: _compile(_NICT), IST: _compile(_IST), NIST: _compile(_NIST)}
_INITIAL = {ICT: CALLING, NICT: TRYING, IST: PROCEEDING, NIST: TRYING}


def _response_class(status: int) -> str:
    if status < 200:
        return R1XX
    return R2XX if status < 300 else RFINAL


class _Tx:
    """One transaction's state; fields unused by a kind stay None."""

    __slots__ = (
        "ack",
        "ack_key",
        "cancel_pending",
        "data",
        "interval",
        "key",
        "kind",
        "last",
        "peer",
        "reliable",
        "request",
        "ringing",
        "state",
        "table",
        "timers",
        "to_tag",
    )

    def __init__(
        self, kind: str, key: TxKey, request: Request | None, data: bytes | None, peer: Peer
    ) -> None:
        self.kind = kind
        self.table = _TABLES[kind]
        self.state = _INITIAL[kind]
        self.key = key
        self.request = request
        self.data = data  # client: request bytes as sent (retransmitted as is)
        self.peer = peer  # client: destination; server: where responses go
        self.reliable = peer.reliable
        self.timers: dict[str, float] = {}
        self.interval = 0.0  # current Timer A/E/G interval
        self.last: bytes | None = None  # server: last response sent
        self.ack: bytes | None = None  # ICT: the ACK sent for a non-2xx
        self.to_tag: str | None = None  # IST: To tag of the final response (RFC 2543 ACK match)
        # ICT: a CANCEL requested before any provisional (its extra headers), else None
        self.cancel_pending: tuple | None = None
        self.ack_key: tuple | None = None  # IST: the 2xx ACK awaited (retransmit_2xx)
        self.ringing: float | None = None  # ICT: its Timer C (fr_inv_timer at start, t_set_fr)
