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

Each of the four state machines is a table ``(state, input) -> (next state, actions)``
(:mod:`kamtool.sip.transaction_state`; keys, ACK and CANCEL: :mod:`.transaction_messages`); an
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
from .message import Request, Response, make_response
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction_messages import _response_peer, build_ack, build_cancel, client_key, server_key
from .transaction_state import (
    ACCEPTED,
    ACK,
    ACK_IN,
    CALLING,
    COMPLETED,
    CONFIRMED,
    DOUBLE,
    ICT,
    IST,
    NICT,
    NIST,
    NO_ACK,
    PASS_UP,
    PROCEEDING,
    R1XX,
    REQ,
    RESEND,
    RESEND_ACK,
    RESET,
    RETRANSMIT,
    SEND_RESP,
    START,
    STOP,
    TERMINATED,
    TERR,
    TIMEOUT,
    TRYING_100,
    _response_class,
    _Tx,
)

__all__ = ["MAGIC_COOKIE", "TransactionLayer", "build_ack", "build_cancel"]
__all__ += ["client_key", "server_key"]


# --------------------------------------------------------------------------- transactions


class TransactionLayer:
    """All client and server transactions of one SIP element (RFC 3261 section 17)."""

    def __init__(
        self, timers: TimerConfig = DEFAULT_TIMERS, *, trying_after: float | None = 0.2
    ) -> None:
        """``trying_after``: seconds after which an INVITE server transaction the TU has not
        answered sends 100 Trying by itself (17.2.1: 200 ms); 0 sends it at once, None never."""
        self.trying_after = trying_after
        self.set_timers(timers)
        self._client: dict[TxKey, _Tx] = {}
        self._server: dict[TxKey, _Tx] = {}
        self._heap: list[tuple[float, int, _Tx, str]] = []
        self._seq = count()
        # [created, 1xx..6xx sent (by status // 100), freed, responses received]
        self._counts = [0] * 9
        # (Call-ID, CSeq number, From tag, To tag) -> IST retransmitting its 2xx (13.3.1.4)
        self._awaiting_ack: dict[tuple, _Tx] = {}

    def set_timers(self, timers: TimerConfig) -> None:
        """Timer values for the timers started from now on (Kamailio's ``cfg.seti tm
        fr_inv_timer``); an INVITE client transaction keeps the Timer C it began with."""
        self.timers = timers
        self._durations = timers.durations()  # (timer, reliable) -> seconds; C None for a UA

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

    def set_timeouts(self, key: TxKey, now: float, fr: float | None, c: float | None) -> None:
        """Client ``key``'s own Timer B/F (``fr`` s) and C (a proxy's t_set_fr); None keeps
        one. A running one restarts from ``now`` (Kamailio's tm retimes branches on the fly)."""
        if (tx := self._client.get(key)) is None:
            return
        if c is not None:
            tx.ringing = c
            if "C" in tx.timers:
                self._start(tx, "C", now + c)
        if fr is not None and (name := "B" if tx.kind == ICT else "F") in tx.timers:
            self._start(tx, name, now + fr)

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
            tx.ringing = t.c  # fixed at creation, as tm's t->fr_inv_timeout
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

    def cancel(self, key: TxKey, now: float, headers: tuple = ()) -> list[Event]:
        """Cancel INVITE client transaction ``key``: build the CANCEL (section 9.1), with
        ``headers`` (``(name, value)``: a Reason, RFC 3326) added, and run it in its own
        non-INVITE client transaction, key ``(branch, "CANCEL")``.

        A CANCEL must not be sent before a provisional response arrived: until then it is
        held and goes out with the first provisional. Nothing happens once the INVITE got a
        final response (the TU sends BYE after a 2xx instead).
        """
        tx = self._client.get(key)
        if tx is None or tx.kind != ICT or tx.state not in (CALLING, PROCEEDING):
            return []
        if tx.state == CALLING:
            tx.cancel_pending = tuple(headers)
            return []
        return self._send_cancel(tx, now, headers)

    def _send_cancel(self, tx: _Tx, now: float, headers: tuple = ()) -> list[Event]:
        key = (tx.key[0], "CANCEL")
        if key in self._client:
            return []  # already cancelling
        cancel = build_cancel(tx.request, headers)
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
        if tx.kind == ICT and msg.status >= 300:  # its ACK copies the To: a bad one raises
            msg.to  # noqa: B018 - here, not half-way into Completed (with no ACK to resend)
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
                if name == "C" and tx.ringing is not None:
                    duration = tx.ringing  # this transaction's own fr_inv_timer
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
                    held, tx.cancel_pending = tx.cancel_pending, None
                    # 9.1: the held CANCEL goes with the first provisional; after a
                    # final response there is nothing left to cancel.
                    if held is not None and event == R1XX:
                        out.extend(self._send_cancel(tx, now, held))
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
