"""SIP transactions (RFC 3261 section 17, with the RFC 6026 "Accepted" states), sans-IO.

A :class:`TransactionLayer` holds every client and server transaction of one SIP element.
Feed it what happens and perform the events it returns::

    layer = TransactionLayer(TimerConfig())
    events = layer.receive(message, source_peer, now)       # a parsed message from the wire
    events = layer.send_request(request, destination, now)  # TU starts a client transaction
    events = layer.send_response(key, response, now)        # TU answers a server transaction
    events = layer.handle_timer(now)                        # at/after layer.next_deadline()
    events = layer.cancel(invite_key, now)                  # CANCEL a client INVITE (9.1)
    events = layer.transport_error(key, now)                # the socket failed for ``key``

Nothing here reads a clock, opens a socket or draws random numbers.

What the TU (proxy core or UA) still does itself, as RFC 3261 divides the work: answer a
CANCEL (``RequestReceived.cancels`` names the INVITE server transaction; 200 to the CANCEL,
487 to the INVITE while ``state(key) == "Proceeding"``, 481 when ``cancels`` is None);
send and retransmit the ACK of a 2xx and the 2xx of a UAS (13.3.1.4); forward ACKs of 2xx
and stray 2xx responses (``key`` None). For a proxy, ``TimerConfig(c=..., fr_timer=...)``
adds Timer C and Kamailio's fr_timer; ``TransactionTimeout(key, "C")`` asks it to CANCEL
the branch (16.8).

Each of the four state machines is a table ``(state, input) -> (next state, actions)``; an
input missing from a table is absorbed (RFC 3261 says "discard" or says nothing). Inputs are
the class of a received or TU-sent response (``1xx``, ``2xx``, ``3xx+``), a received request
retransmission (``req``) or ACK (``ack``), a fired timer (``A`` .. ``M``) and ``transport_error``.
Timers live in one heap of ``(deadline, seq, tx, timer)`` with lazy deletion: a transaction
keeps its live deadlines in ``tx.timers`` and a popped entry that no longer matches is ignored.
"""

from __future__ import annotations

import heapq
from itertools import count

from .events import (
    Event,
    Peer,
    RequestReceived,
    ResponseReceived,
    Send,
    Terminated,
    TransactionTimeout,
    TransportError,
    TxKey,
)
from .headers import MAGIC_COOKIE
from .message import Message, Request, Response, make_response
from .timers import DEFAULT_TIMERS, TimerConfig

__all__ = [
    "MAGIC_COOKIE",
    "TransactionLayer",
    "build_ack",
    "build_cancel",
    "client_key",
    "server_key",
]


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


# --------------------------------------------------------------------------- message access
# The only places that know the message API of kamtool.sip.message.


def _default_port(transport: str) -> int:
    return 5061 if transport.lower() in ("tls", "wss") else 5060


def _via_key(via) -> tuple[str, str, int]:
    """(branch, sent-by host lower-cased, sent-by port with its default)."""
    port = via.port or _default_port(via.transport)
    return (via.branch or "", via.host.lower(), port)


def client_key(msg: Message) -> TxKey:
    """Key of the client transaction a request creates or a response belongs to (17.1.3):
    top Via branch and CSeq method (a CANCEL has its own transaction, same branch)."""
    return (msg.vias[0].branch or "", msg.cseq.method)


def server_key(request: Request) -> TxKey:
    """Key of the server transaction a request belongs to (17.2.3).

    With the magic cookie: branch, sent-by and method, ACK counting as INVITE. Without it
    (RFC 2543 peers) the Request-URI, From tag, Call-ID, CSeq number and top Via stand in for
    the branch; the To tag is checked separately (see TransactionLayer._find_server).
    """
    via = request.vias[0]
    method = request.method
    if method == "ACK":
        method = "INVITE"
    branch, host, port = _via_key(via)
    if branch.startswith(MAGIC_COOKIE):
        return (branch, host, port, method)
    return (
        "rfc2543",
        request.uri_text,
        request.from_.tag or "",
        request.call_id,
        request.cseq.num,
        branch,
        host,
        port,
        method,
    )


# --------------------------------------------------------------------------- transactions


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
        self.cancel_pending = False  # ICT: CANCEL requested before any provisional
        self.ack_key: tuple | None = None  # IST: the 2xx ACK awaited (retransmit_2xx)


class TransactionLayer:
    """All client and server transactions of one SIP element (RFC 3261 section 17)."""

    def __init__(
        self, timers: TimerConfig = DEFAULT_TIMERS, *, trying_after: float | None = 0.2
    ) -> None:
        """``trying_after``: seconds after which an INVITE server transaction the TU has not
        answered sends 100 Trying by itself (17.2.1: 200 ms); 0 sends it at once, None never."""
        self.timers = timers
        self.trying_after = trying_after
        t = timers
        # (timer, reliable transport) -> duration; the per-transport zeros of Table 4
        self._durations: dict[tuple[str, bool], float | None] = {}
        for reliable in (False, True):
            for name, value in {
                "A": t.a, "B": t.b, "C": t.c, "D": t.d_for(reliable), "E": t.e, "F": t.f, "G": t.g,
                "H": t.h, "I": t.i_for(reliable), "J": t.j_for(reliable),
                "K": t.k_for(reliable), "L": t.l, "M": t.m,
            }.items():  # fmt: skip
                self._durations[name, reliable] = value
        self._client: dict[TxKey, _Tx] = {}
        self._server: dict[TxKey, _Tx] = {}
        self._heap: list[tuple[float, int, _Tx, str]] = []
        self._seq = count()
        # [created, 1xx..6xx sent (by status // 100), freed, responses received]
        self._counts = [0] * 9
        # (Call-ID, CSeq number, From tag, To tag) -> IST retransmitting its 2xx (13.3.1.4)
        self._awaiting_ack: dict[tuple, _Tx] = {}

    # ----------------------------------------------------------------- introspection

    def __len__(self) -> int:
        return len(self._client) + len(self._server)

    def state(self, key: TxKey) -> str | None:
        """State name of a transaction ("Calling", "Proceeding", ...), None when unknown."""
        tx = self._client.get(key) or self._server.get(key)
        return tx.state if tx is not None else None

    def request(self, key: TxKey) -> Request | None:
        """The request that created transaction ``key`` (e.g. the INVITE a CANCEL cancels,
        to answer it with 487), None when the transaction is gone."""
        tx = self._client.get(key) or self._server.get(key)
        return tx.request if tx is not None else None

    def awaiting_ack(self, key: TxKey) -> bool:
        """Whether server transaction ``key`` still retransmits its 2xx (retransmit_2xx)."""
        tx = self._server.get(key)
        return tx is not None and tx.ack_key is not None

    def counters(self) -> dict[str, int]:
        """Counters for statistics (the proxy maps them to Kamailio's tm.stats names).

        ``current``: live transactions; ``waiting``: those only absorbing retransmissions
        (Completed, Confirmed, Accepted); ``client``/``server``: live per side;
        ``created``/``freed`` since start; ``rpl_received``: responses received by client
        transactions; ``rpl_sent``: responses sent by server transactions; ``1xx`` ..
        ``6xx``: those responses by class.
        """
        waiting = sum(
            1
            for table in (self._client, self._server)
            for tx in table.values()
            if tx.state in (COMPLETED, CONFIRMED, ACCEPTED)
        )
        c = self._counts
        out = {
            "current": len(self),
            "waiting": waiting,
            "client": len(self._client),
            "server": len(self._server),
            "created": c[0],
            "freed": c[7],
            "rpl_received": c[8],
            "rpl_sent": sum(c[1:7]),
        }
        out.update((f"{k}xx", c[k]) for k in range(1, 7))
        return out

    def next_deadline(self) -> float | None:
        """When handle_timer() must be called next, or None when no timer is running."""
        heap = self._heap
        while heap:
            when, _, tx, name = heap[0]
            if tx.timers.get(name) == when:
                return when
            heapq.heappop(heap)  # stale: stopped, restarted or transaction gone
        return None

    # ----------------------------------------------------------------- inputs

    def send_request(self, request: Request, destination: Peer, now: float) -> list[Event]:
        """Start a client transaction for ``request`` (not ACK: an ACK for a 2xx is sent by
        the TU directly, 17.1.1.3) and return the events to perform (the first Send)."""
        if request.method == "ACK":
            raise ValueError("ACK does not create a client transaction; send it directly")
        kind = ICT if request.method == "INVITE" else NICT
        return self._start_client(
            kind, client_key(request), request, request.to_bytes(), destination, now
        )

    def _start_client(
        self, kind: str, key: TxKey, request, data: bytes, destination: Peer, now: float
    ) -> list[Event]:
        if key in self._client:
            raise ValueError(f"client transaction {key!r} already exists (reused branch?)")
        tx = _Tx(kind, key, request, data, destination)
        self._client[key] = tx
        self._counts[0] += 1
        out: list[Event] = [Send(data, destination, key)]
        t = self.timers
        if kind == ICT:
            if not tx.reliable:
                tx.interval = t.a
                self._start(tx, "A", now + t.a)
            self._start(tx, "B", now + t.b)
        else:
            if not tx.reliable:
                tx.interval = t.e
                self._start(tx, "E", now + t.e)
            self._start(tx, "F", now + t.f)
        return out

    def receive(
        self, msg: Request | Response, source: Peer, now: float, *, create: bool = True
    ) -> list[Event]:
        """A parsed message from the network (request or response).

        ``create=False`` is for a proxy that answers some requests statelessly (Kamailio's
        sl module): a request matching no server transaction comes back as
        ``RequestReceived(request, source, None, cancels)`` and no transaction is made; the
        TU calls :meth:`new_server` for the requests it handles statefully (t_newtran).
        Retransmissions and ACKs of known transactions are handled as usual.
        """
        if msg.is_request:
            return self._receive_request(msg, source, now, create)
        return self._receive_response(msg, source, now)

    def new_server(self, request: Request, source: Peer, now: float) -> tuple[TxKey, list[Event]]:
        """Create the server transaction of ``request`` (received with ``create=False``):
        its key and the events (100 Trying when ``trying_after`` is 0)."""
        key = server_key(request)
        if key in self._server:
            raise ValueError(f"server transaction {key!r} already exists")
        return key, self._new_server(request, key, source, now)

    def send_response(
        self,
        key: TxKey,
        response: Response,
        now: float,
        destination: Peer | None = None,
        *,
        retransmit_2xx: bool = False,
    ) -> list[Event]:
        """The TU answers server transaction ``key`` with ``response``.

        Returns the Send (or nothing when the state machine discards the response, e.g. a
        second final response in Completed). ``destination`` overrides the RFC 3261 section
        18.2.2 / RFC 3581 choice made when the request arrived.

        ``retransmit_2xx``: for a UAS answering an INVITE with a 2xx over an unreliable
        transport, retransmit it (13.3.1.4) until its ACK arrives (matched by Call-ID, CSeq
        number and tags; the ACK still reaches the TU) or 64*T1 pass, which gives
        ``TransactionTimeout(key, "ACK")``: the TU then ends the dialog with a BYE. A proxy
        never sets it (2xx retransmissions come from the UAS through it).
        """
        tx = self._server.get(key)
        if tx is None:
            return []
        if destination is not None:
            tx.peer = destination
        out: list[Event] = []
        state = tx.state
        self._apply(tx, _response_class(response.status), response, now, out)
        if retransmit_2xx and tx.kind == IST and state == PROCEEDING and tx.state == ACCEPTED:
            req = tx.request
            ack_key = (req.call_id, req.cseq.num, req.from_.tag or "", tx.to_tag or "")
            tx.ack_key = ack_key
            self._awaiting_ack[ack_key] = tx
            if not tx.reliable:
                tx.interval = self.timers.t1
                self._start(tx, "R", now + tx.interval)
        return out

    def cancel(self, key: TxKey, now: float) -> list[Event]:
        """Cancel INVITE client transaction ``key``: build the CANCEL (section 9.1) and run
        it in its own non-INVITE client transaction, key ``(branch, "CANCEL")``.

        A CANCEL must not be sent before a provisional response arrived: until then it is
        held and goes out with the first provisional. Nothing happens once the INVITE got a
        final response (the TU sends BYE after a 2xx instead).
        """
        tx = self._client.get(key)
        if tx is None or tx.kind != ICT or tx.state not in (CALLING, PROCEEDING):
            return []
        if tx.state == CALLING:
            tx.cancel_pending = True
            return []
        return self._send_cancel(tx, now)

    def _send_cancel(self, tx: _Tx, now: float) -> list[Event]:
        key = (tx.key[0], "CANCEL")
        if key in self._client:
            return []  # already cancelling
        cancel = build_cancel(tx.request)
        return self._start_client(NICT, key, cancel, cancel.to_bytes(), tx.peer, now)

    def transport_error(self, key: TxKey, now: float, reason: str = "") -> list[Event]:
        """The transport failed to send for transaction ``key`` (17.1.4, 17.2.4)."""
        tx = self._client.get(key) or self._server.get(key)
        if tx is None:
            return []
        out: list[Event] = []
        self._apply(tx, TERR, reason, now, out)
        return out

    def handle_timer(self, now: float) -> list[Event]:
        """Fire every timer due at ``now``."""
        out: list[Event] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, tx, name = heapq.heappop(heap)
            if tx.timers.get(name) != when:
                continue
            del tx.timers[name]
            self._apply(tx, name, None, now, out)
        return out

    # ----------------------------------------------------------------- receiving

    def _receive_response(self, msg: Response, source: Peer, now: float) -> list[Event]:
        tx = self._client.get(client_key(msg))
        if tx is None:
            # 18.1.2: no transaction: the core decides (a stateful proxy forwards 2xx strays).
            return [ResponseReceived(msg, source, None)]
        self._counts[8] += 1
        out: list[Event] = []
        self._apply(tx, _response_class(msg.status), msg, now, out)
        return out

    def _receive_request(
        self, msg: Request, source: Peer, now: float, create: bool = True
    ) -> list[Event]:
        method = msg.method
        key = server_key(msg)
        tx = self._find_server(key, msg)
        if tx is not None:
            out: list[Event] = []
            self._apply(tx, ACK_IN if method == "ACK" else REQ, msg, now, out)
            return out
        if method == "ACK":
            # The ACK of a 2xx (new branch) or of a transaction already gone: end to end,
            # for the TU (17.2.3, RFC 6026 section 7.1).
            if self._awaiting_ack:
                self._ack_2xx(msg)
            return [RequestReceived(msg, source, None)]
        if not create:
            cancels = self._cancels(key, msg) if method == "CANCEL" else None
            return [RequestReceived(msg, source, None, cancels)]
        return self._new_server(msg, key, source, now)

    def _new_server(self, msg: Request, key: TxKey, source: Peer, now: float) -> list[Event]:
        method = msg.method
        kind = IST if method == "INVITE" else NIST
        tx = _Tx(kind, key, msg, None, _response_peer(msg, source))
        self._server[key] = tx
        self._counts[0] += 1
        out: list[Event] = [RequestReceived(msg, source, key)]
        if kind == IST and self.trying_after is not None:
            if self.trying_after <= 0:
                self._apply(tx, "T", None, now, out)
            else:
                self._start(tx, "T", now + self.trying_after)
            return out
        if method == "CANCEL":
            cancels = self._cancels(key, msg)
            if cancels is not None:
                out[0] = RequestReceived(msg, source, key, cancels)
        return out

    def _cancels(self, key: TxKey, msg: Request) -> TxKey | None:
        """9.2: the INVITE server transaction a CANCEL cancels, matched as for a
        retransmission of that INVITE."""
        target = self._find_server(key[:-1] + ("INVITE",), msg)
        return target.key if target is not None and target.kind == IST else None

    def _ack_2xx(self, ack) -> None:
        """Stop retransmitting the 2xx this ACK acknowledges (send_response retransmit_2xx)."""
        k = (ack.call_id, ack.cseq.num, ack.from_.tag or "", ack.to.tag or "")
        tx = self._awaiting_ack.pop(k, None)
        if tx is not None:
            tx.ack_key = None
            tx.timers.pop("R", None)

    def _find_server(self, key: TxKey, msg: Request) -> _Tx | None:
        tx = self._server.get(key)
        if tx is None or key[0] != "rfc2543":
            return tx
        # 17.2.3, RFC 2543 rules: requests match on the original To tag, an ACK on the To
        # tag of the response the transaction sent.
        tag = msg.to.tag or ""
        if msg.method == "ACK" and tx.kind == IST:
            return tx if tx.to_tag is not None and tag == tx.to_tag else None
        return tx if tag == (tx.request.to.tag or "") else None

    # ----------------------------------------------------------------- the machine

    def _apply(self, tx: _Tx, event: str, msg, now: float, out: list[Event]) -> None:
        entry = tx.table.get((tx.state, event))
        if entry is None:
            return  # absorbed
        tx.state, actions = entry
        for op, name in actions:
            if op == START:
                duration = self._durations[name, tx.reliable]
                if duration is None:
                    continue  # Timer C without a configured value: a UA
                if name == "G":
                    tx.interval = duration
                self._start(tx, name, now + duration)
            elif op == STOP:
                tx.timers.pop(name, None)
            elif op == SEND_RESP:
                data = msg.to_bytes()
                tx.last = data
                self._counts[msg.status // 100] += 1
                if tx.kind == IST and event != R1XX:
                    tx.to_tag = msg.to.tag or ""
                out.append(Send(data, tx.peer, tx.key))
            elif op == PASS_UP:
                if tx.kind == IST:  # an ACK in Accepted (RFC 2543 matching only)
                    out.append(RequestReceived(msg, tx.peer, None))
                else:
                    out.append(ResponseReceived(msg, tx.peer, tx.key))
                    if tx.cancel_pending:
                        # 9.1: the held CANCEL goes with the first provisional; after a
                        # final response there is nothing left to cancel.
                        tx.cancel_pending = False
                        if event == R1XX:
                            out.extend(self._send_cancel(tx, now))
            elif op == RESEND:
                if tx.last is not None:
                    out.append(Send(tx.last, tx.peer, tx.key))
            elif op == RETRANSMIT:
                out.append(Send(tx.data, tx.peer, tx.key))
            elif op == DOUBLE:  # A doubles without bound; E and G up to T2
                t2 = self.timers.t2
                tx.interval = tx.interval * 2 if name == "A" else min(tx.interval * 2, t2)
                self._start(tx, name, now + tx.interval)
            elif op == RESET:  # E in Proceeding: every T2
                tx.interval = self.timers.t2
                self._start(tx, name, now + tx.interval)
            elif op == ACK:
                tx.ack = build_ack(tx.request, msg)
                out.append(Send(tx.ack, tx.peer, tx.key))
            elif op == RESEND_ACK:
                out.append(Send(tx.ack, tx.peer, tx.key))
            elif op == TRYING_100:
                if tx.last is None:
                    tx.last = make_response(tx.request, 100).to_bytes()
                    self._counts[1] += 1
                    out.append(Send(tx.last, tx.peer, tx.key))
            elif op == TIMEOUT:
                out.append(TransactionTimeout(tx.key, event))
            elif op == NO_ACK:
                # 13.3.1.4: the 2xx was retransmitted for 64*T1 and no ACK came
                if tx.ack_key is not None:
                    out.append(TransactionTimeout(tx.key, "ACK"))
            else:  # TERR_EV
                out.append(TransportError(tx.key, msg or ""))
        if tx.state == TERMINATED:
            self._remove(tx, out)
        elif tx.reliable and tx.timers:
            # Zero-length timers (D, I, J, K over reliable transports) fire right away.
            for name, when in list(tx.timers.items()):
                if when <= now and tx.state != TERMINATED:
                    del tx.timers[name]
                    self._apply(tx, name, None, now, out)

    def _start(self, tx: _Tx, name: str, when: float) -> None:
        if name == "G" and tx.reliable:
            return  # 17.2.1: Timer G only over unreliable transports
        tx.timers[name] = when
        heapq.heappush(self._heap, (when, next(self._seq), tx, name))

    def _remove(self, tx: _Tx, out: list[Event]) -> None:
        tx.timers.clear()
        if tx.ack_key is not None:
            self._awaiting_ack.pop(tx.ack_key, None)
        table = self._server if tx.kind in (IST, NIST) else self._client
        if table.get(tx.key) is tx:
            del table[tx.key]
            self._counts[7] += 1
        out.append(Terminated(tx.key))


def _response_peer(request: Request, source: Peer) -> Peer:
    """Where responses to ``request`` go (RFC 3261 section 18.2.2, RFC 3581).

    Reliable transports: back over the connection it came on (the source). Otherwise maddr if
    present; the source address and port with ``rport``; else the source address and the
    sent-by port (its default when absent).
    """
    if source.reliable:
        return source
    via = request.vias[0]
    maddr = via.maddr
    if maddr:
        return Peer(source.transport, maddr, via.port or _default_port(via.transport))
    if via.has_rport:
        return source
    return Peer(source.transport, source.host, via.port or _default_port(via.transport))


def build_ack(request: Request, response: Response) -> bytes:
    """The hop-by-hop ACK for a non-2xx final ``response`` to INVITE ``request``
    (17.1.1.3), as bytes: same Request-URI, top Via (same branch), From, Call-ID, CSeq
    number and Route set as the INVITE; To (with the tag) from the response.

    Written directly rather than through Request/Headers: it is on the hot path of every
    rejected call (each 401/407 challenge of an INVITE)."""
    parts = [
        f"ACK {request.uri_text} SIP/2.0\r\nVia: {request.vias[0]}\r\nFrom: {request.from_}"
        f"\r\nTo: {response.to}\r\nCall-ID: {request.call_id}\r\nCSeq: {request.cseq.num} ACK\r\n"
    ]
    for route in request.routes:
        parts.append(f"Route: {route}\r\n")
    parts.append("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


def build_cancel(request: Request) -> Request:
    """The CANCEL of ``request`` (9.1): same Request-URI, top Via (same branch), From, To
    (no tag added), Call-ID, CSeq number and Route set."""
    headers: list[tuple[str, object]] = [
        ("Via", request.vias[0]),
        ("From", request.from_),
        ("To", request.to),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.num} CANCEL"),
    ]
    headers.extend(("Route", route) for route in request.routes)
    headers.append(("Max-Forwards", "70"))
    return Request("CANCEL", request.uri_text, headers)
