"""Stateful forwarding (Kamailio's tm): the proxy policy on top of the sans-IO transactions.

RFC 3261 §17 itself (matching, retransmissions, timers A-M, the hop-by-hop ACK of a non-2xx,
building and holding CANCELs) is :class:`kamtool.sip.transaction.TransactionLayer`; this
module drives it with the proxy's clock and sockets and keeps only what §16 asks of a proxy:

* a :class:`ServerTx` per request the proxy handles statefully, with a :class:`ClientTx` per
  forwarded branch; requests answered statelessly (sl) get no transaction at all;
* forking: the targets come in q-groups; a group is tried in parallel, the next group
  only after every branch of the previous one failed (§16.6 serial by q, Kamailio's
  ``t_load_contacts``/``t_next_contacts``);
* best-response selection (§16.7): 2xx forwarded at once (every one, for INVITE), 6xx
  ends the search, otherwise the lowest class, with a locally made 408 for silent branches
  and 487 for a cancelled transaction;
* CANCEL (§16.10): answered 200 by the route (``t_relay()`` of the CANCEL), then every
  open branch is cancelled (the sip layer holds a CANCEL until the branch's first
  provisional);
* Kamailio's timers: ``fr_timer`` for a branch without a provisional (Timer B/F), then
  ``fr_inv_timer`` for a ringing INVITE branch, restarted by each provisional as with tm's
  default ``restart_fr_on_each_reply`` (Timer C); on expiry the branch is cancelled and
  counts as a 408 at once.

The sip layer's single deadline is kept armed in the proxy's one
:class:`~kamtool.proxy.timers.TimerHeap`. ``stats()`` returns ``tm.stats``-shaped numbers;
``in_flight()`` the number of transactions that still wait for a final response (graceful
shutdown waits for 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kamtool.proxy.transaction import ClientTx, Dest, ServerTx, Target, cancel_reason
from kamtool.sip.events import (
    Peer,
    RequestReceived,
    ResponseReceived,
    Send,
    Terminated,
    TransactionTimeout,
)
from kamtool.sip.message import REASON_PHRASES
from kamtool.sip.timers import TimerConfig
from kamtool.sip.transaction import TransactionLayer as SipTransactions
from kamtool.sip.transaction import build_ack, client_key

__all__ = ["TRYING", "ClientTx", "ServerTx", "Target", "TransactionLayer"]

log = logging.getLogger(__name__)

_INF = float("inf")
TRYING = "trying -- your call is important to us"  # the reason text of Kamailio tm's 100


class TransactionLayer:
    """The proxy's transactions (see module docstring).

    The wiring supplies ``send(dest, data)`` (bytes to ``(proto, host, port)``) and
    ``codec`` (``new_branch()``, ``reply_message(request, status, reason, headers)``).
    Replies go back on the endpoint the request came in on.
    """

    def __init__(
        self,
        timers: Any,
        *,
        send: Callable[[Dest, bytes], None],
        codec: Any,
        stats: Any,
        fr_timer: float = 5.0,
        fr_inv_timer: float = 120.0,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        on_final_out: Callable[[int, Any, Any], None] | None = None,
    ) -> None:
        self.timers = timers
        self.send = send
        self.codec = codec
        # fr_timer stands in for 64*T1 (B, F, H) and fr_inv_timer is Timer C. No automatic
        # 100 Trying: relay() sends Kamailio's own text, and only for relayed INVITEs.
        self.sip = SipTransactions(
            TimerConfig(t1=t1, t2=t2, t4=t4, fr_timer=fr_timer, c=fr_inv_timer), trying_after=None
        )
        self.server: dict[tuple, ServerTx] = {}
        self.client: dict[tuple[str, str], ClientTx] = {}
        # acc: called with (flags, request, response) as a flagged transaction's final
        # response goes out (Kamailio's TMCB_RESPONSE_OUT)
        self.on_final_out = on_final_out
        self._armed: Any = None
        self._armed_at = _INF
        c = stats.counter
        self._uas = c("tmx", "UAS_transactions")
        # tm's client_transactions: requests the proxy originates itself (the BYEs of
        # dlg.end_dlg, probes), not the branches of relayed requests
        self._uac = c("tmx", "UAC_transactions")
        self._cls = {k: c("tmx", f"{k}xx_transactions") for k in range(2, 7)}
        self._rpl_received = c("tmx", "rpl_received")
        self._rpl_relayed = c("tmx", "rpl_relayed")
        self._rpl_absorbed = c("tmx", "rpl_absorbed")
        self._rpl_generated = c("tmx", "rpl_generated")
        self._rpl_sent = c("tmx", "rpl_sent")
        stats.gauge("tmx", "inuse_transactions", lambda: len(self.server))
        stats.gauge("tmx", "active_transactions", self.in_flight)

    # ------------------------------------------------------------------ queries

    def in_flight(self) -> int:
        """Transactions without a final response yet."""
        return sum(1 for t in self.server.values() if not t.completed)

    def stats(self) -> dict[str, int]:
        """Numbers shaped like Kamailio's ``tm.stats``."""
        cur = len(self.server)
        return {
            "current": cur,
            "waiting": self.in_flight(),
            "total": self._uas.value,
            "total_local": self._uac.value,
            "rpl_received": self._rpl_received.value,
            "rpl_generated": self._rpl_generated.value,
            "rpl_sent": self._rpl_sent.value,
            "6xx": self._cls[6].value,
            "5xx": self._cls[5].value,
            "4xx": self._cls[4].value,
            "3xx": self._cls[3].value,
            "2xx": self._cls[2].value,
            "created": self._uas.value,
            "freed": self._uas.value - cur,
            "delayed_free": 0,
        }

    def lookup(self, key: Any) -> ServerTx | None:
        return self.server.get(key)

    def answers_local(self, resp: Any) -> bool:
        """True when ``resp`` answers a request the proxy sent itself (:meth:`send_local`):
        its replies stop here, nothing is forwarded."""
        ctx = self.client.get(client_key(resp))
        return ctx is not None and ctx.server.endpoint is None

    # ------------------------------------------------------------------ driving the sip layer

    def _run(self, events: list) -> None:
        """Perform the sip layer's events, then keep its next deadline armed."""
        for ev in events:
            kind = type(ev)
            if kind is Send:
                stx = self.server.get(ev.key)
                dest = ev.destination
                if stx is None:
                    self.send(dest, ev.data)
                elif stx.endpoint is not None:
                    # as sl (Kamailio's reply_to_via=0): to the source, never a Via maddr
                    stx.endpoint.send(ev.data, stx.reply_addr)
            elif kind is TransactionTimeout:
                self._timeout(ev.key, ev.timer)
            elif kind is Terminated:
                stx = self.server.get(ev.key)
                if stx is not None:
                    self._drop_server(stx)
            # RequestReceived / ResponseReceived: the caller handles them (match_request,
            # response); transport errors are not reported (a lost branch times out: 408)
        when = self.sip.next_deadline()
        if when is not None and when < self._armed_at:
            if self._armed is not None:
                self._armed.cancel()
            self._armed_at = when
            self._armed = self.timers.call_at(when, self._fire)

    def _fire(self) -> None:
        # never earlier than the deadline asked for, even if the loop woke a hair early
        now = max(self.timers.now(), self._armed_at)
        self._armed = None
        self._armed_at = _INF
        self._run(self.sip.handle_timer(now))

    # ------------------------------------------------------------------ server side

    def match_request(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> Any:
        """A request from the network: None when it belongs to a known transaction (a
        retransmission, answered with the last response; the ACK of a non-2xx final),
        else the :class:`~kamtool.sip.events.RequestReceived` (``cancels``: the INVITE
        transaction a CANCEL matches). No transaction is made here (see new_server)."""
        events = self.sip.receive(
            req, Peer(endpoint.proto, addr[0], addr[1]), self.timers.now(), create=False
        )
        got = None
        for ev in events:
            if type(ev) is RequestReceived:
                got = ev
        self._run(events)
        return got

    def new_server(
        self, req: Any, endpoint: Any, addr: tuple[str, int], reply_addr: tuple[str, int]
    ) -> ServerTx:
        """Create the server transaction of a new request (t_newtran)."""
        source = Peer(endpoint.proto, addr[0], addr[1])
        key, events = self.sip.new_server(req, source, self.timers.now())
        stx = ServerTx(key, req.method, req, endpoint, reply_addr)
        self.server[key] = stx
        self._uas.value += 1
        self._run(events)
        return stx

    def reply(self, stx: ServerTx, response: Any) -> None:
        """Send a response on ``stx`` (local or relayed); the sip layer keeps it for
        retransmissions of the request."""
        status = response.status
        if stx.completed and status >= 200:
            return
        if stx.endpoint is not None:  # else our own request (send_local): replies stop here
            events = self.sip.send_response(stx.key, response, self.timers.now())
            if events:
                self._rpl_sent.value += 1
            self._run(events)
        if status >= 200:
            if stx.flags and self.on_final_out is not None:
                try:
                    self.on_final_out(stx.flags, stx.request, response)
                except Exception:  # accounting must never break the call
                    log.exception("accounting the reply to %s failed", stx.method)
            self._complete(stx, status)

    def local_reply(
        self, stx: ServerTx, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """A response made by the proxy itself (t_reply)."""
        self._rpl_generated.value += 1
        self.reply(stx, self.codec.reply_message(stx.request, status, reason, headers or []))

    def _complete(self, stx: ServerTx, status: int) -> None:
        stx.completed = True
        self._cls[min(status // 100, 6)].value += 1
        self._cancel_branches(stx, cancel_reason(status))
        if stx.endpoint is None:
            self._drop_server(stx)  # no server transaction in the sip layer to wait for

    def _drop_server(self, stx: ServerTx) -> None:
        for ctx in stx.branches:
            if self.client.get(ctx.key) is ctx:
                del self.client[ctx.key]
        if self.server.get(stx.key) is stx:
            del self.server[stx.key]

    # ------------------------------------------------------------------ forwarding

    def relay(self, stx: ServerTx, groups: list[list[Target]], trying_sent: bool = False) -> None:
        """Forward ``stx`` to the targets, group after group (serial forking by q).

        An INVITE is answered ``100 Trying`` at once (RFC 3261 §16.2; Kamailio's text), so
        the caller stops retransmitting while the branches ring. ``trying_sent``: the route
        sent one already while it waited for the database; the transaction keeps its own
        for retransmissions of the INVITE without sending a second."""
        stx.groups = [g for g in groups if g]
        if not stx.groups:
            self.local_reply(stx, 404, "Not Found")
            return
        if stx.method == "INVITE" and stx.endpoint is not None:
            if trying_sent:
                trying = self.codec.reply_message(stx.request, 100, TRYING, [])
                self.sip.send_response(stx.key, trying, self.timers.now())  # kept, not sent
            else:
                self.local_reply(stx, 100, TRYING)
        self._next_group(stx)

    def send_local(
        self,
        method: str,
        dest: Dest,
        build: Callable[[str], Any],
        on_final: Callable[[ServerTx, Any], None] | None = None,
    ) -> ServerTx:
        """A request the proxy itself originates (the BYEs of dlg.end_dlg / dialog lifetime,
        dispatcher probes): a client transaction (retransmitted, fr_timer) whose replies
        are absorbed. ``build(branch)`` returns the Request for the Via branch given;
        ``on_final(stx, response)`` gets the final response (None: timed out)."""
        # Kamailio counts a local transaction in both tm totals: "total"
        # (tmx:UAS_transactions) and "total_local" (tmx:UAC_transactions)
        self._uas.value += 1
        self._uac.value += 1
        stx = ServerTx(("local", self.codec.new_branch(), method), method, None, None, ("", 0))
        self.server[stx.key] = stx
        stx.build = lambda _stx, _target, branch: build(branch)
        stx.on_final = on_final
        stx.groups = [[Target("", dest)]]
        self._next_group(stx)
        return stx

    def _next_group(self, stx: ServerTx) -> bool:
        if not stx.groups or stx.canceled:
            return False
        group = stx.groups.pop(0)
        for target in group:
            self._start_branch(stx, target)
        return True

    def _start_branch(self, stx: ServerTx, target: Target) -> None:
        assert stx.build is not None
        branch = self.codec.new_branch()
        request = stx.build(stx, target, branch)
        ctx = ClientTx(stx, (branch, request.method), target, request)
        stx.branches.append(ctx)
        self.client[ctx.key] = ctx
        now = self.timers.now()
        events = self.sip.send_request(request, Peer(*target.dest), now)
        if stx.fr_timer is not None or stx.fr_inv_timer is not None:  # t_set_fr
            self.sip.set_timeouts(ctx.key, now, stx.fr_timer, stx.fr_inv_timer)
        self._run(events)

    def retime(self, stx: ServerTx, fr: float | None, fr_inv: float | None) -> None:
        """t_set_fr on a transaction already relayed: its branches still waiting take
        the new timers from now (None: that timer stays)."""
        now = self.timers.now()
        for ctx in stx.branches:
            if not ctx.done:
                self.sip.set_timeouts(ctx.key, now, fr, fr_inv)
        self._run([])  # (an earlier deadline than the one armed)

    def _timeout(self, key: Any, timer: str) -> None:
        ctx = self.client.get(key)
        if ctx is None or ctx.done:
            return  # a server transaction (H: no ACK came) or a branch already settled
        log.debug("branch %s to %s timed out (%s)", ctx.branch, ctx.target.dest, timer)
        if timer == "C":  # fr_inv_timer: stop the ringing branch (§16.8)
            self._run(self.sip.cancel(key, self.timers.now()))
        self._branch_final(ctx, 408, None)

    def _branch_final(self, ctx: ClientTx, status: int, response: Any) -> None:
        ctx.done = True
        ctx.status = status
        ctx.final = response
        stx = ctx.server
        if stx.completed:
            return
        if any(not b.done for b in stx.branches):
            if status >= 600:  # §16.7 step 5: not forwarded at once; the others are
                stx.groups = []  # cancelled (Reason: SIP;cause=6xx, as tm), then it wins
                self._cancel_branches(stx, cancel_reason(status))
            return
        best = stx.best()
        if not stx.canceled and best.status < 600 and self._next_group(stx):
            return
        if stx.on_failure is not None:
            more = stx.on_failure(stx, ctx)
            if more:
                stx.first_branch = len(stx.branches)
                stx.groups.append(more)
                self._next_group(stx)
                return
        self._finish(stx)

    def _finish(self, stx: ServerTx) -> None:
        """Relay the best final response (or a local 408/487)."""
        if stx.completed:
            return
        best = stx.best()
        if stx.on_final is not None:
            stx.on_final(stx, best.final)
        if stx.endpoint is None:  # our own request: nobody to answer
            if best.final is not None:
                # as Kamailio's tm (local_reply): the winning reply to a local request
                # counts as sent, so tmx:rpl_relayed (2xx counted in _relay_2xx)
                self._rpl_relayed.value += 1
            self._complete(stx, best.status)
            return
        if stx.canceled and (best.final is None or best.status == 408):
            self.local_reply(stx, 487, "Request Terminated")
        elif best.final is None:
            self.local_reply(stx, 408, "Request Timeout")
        elif best.status in (401, 407) and len(auth := stx.challenges()) > 1:
            # §16.7 step 7: every branch's challenge goes to the caller (tm_aggregate_auth:
            # a reply of tm's own with the standard reason phrase)
            self.local_reply(stx, best.status, REASON_PHRASES[best.status], auth)
        elif best.status == 503:
            # RFC 3261 16.7 step 6: a 503 is not passed upstream (it would say we are down);
            # 500, with the reason "Service Unavailable" as Kamailio's tm words it
            self.local_reply(stx, 500, "Service Unavailable")
        else:
            self._rpl_relayed.value += 1
            best.final.pop_via()
            self.reply(stx, best.final)

    def _cancel_branches(self, stx: ServerTx, reason: tuple = ()) -> None:
        """CANCEL every open INVITE branch, with ``reason`` (Reason headers, RFC 3326; the
        sip layer holds the CANCEL of a branch without a provisional until it has one)."""
        if stx.method != "INVITE":
            return
        now = self.timers.now()
        for ctx in stx.branches:
            if not ctx.done:
                self._run(self.sip.cancel(ctx.key, now, reason))

    def cancel(self, stx: ServerTx, reason: tuple = ()) -> None:
        """A CANCEL matched ``stx`` (already answered 200 by the route); ``reason``: its
        Reason headers, passed on to the branches (RFC 3326, as tm's e2e CANCEL)."""
        if stx.completed:
            return
        stx.canceled = True
        stx.groups = []
        self._cancel_branches(stx, reason)

    # ------------------------------------------------------------------ responses

    def response(self, resp: Any, endpoint: Any, addr: tuple[str, int]) -> bool:
        """A response whose top Via is ours. False when it belongs to no transaction of
        ours (proxy.response forwards it statelessly by the next Via)."""
        # what the ACK and dialog steps read, parsed before the sip layer moves: a broken
        # one drops the reply here (ParseError); raised later, it stranded the branch
        _ = resp.to, resp.contacts, resp.record_routes
        source = Peer(endpoint.proto, addr[0], addr[1])
        events = self.sip.receive(resp, source, self.timers.now())
        got = None
        for ev in events:
            if type(ev) is ResponseReceived:
                got = ev
        self._run(events)  # the ACK of a non-2xx, a held CANCEL
        if got is None:  # a retransmission the sip layer absorbed
            self._rpl_received.value += 1
            self._rpl_absorbed.value += 1
            return True
        key = got.key
        if key is None:  # the sip layer forgot the branch, but the proxy still holds it
            key = client_key(resp)
            ctx = self.client.get(key)
            if ctx is not None and ctx.is_invite and resp.status >= 300:
                # a final after our own 408 (fr_timer, no provisional): still ACK it, so
                # the callee stops retransmitting
                self.send(ctx.target.dest, build_ack(ctx.request, resp))
        else:
            ctx = self.client.get(key)
        if ctx is None:
            if key[1] == "CANCEL":  # the reply to a CANCEL we sent: nothing to forward
                self._rpl_received.value += 1
                self._rpl_absorbed.value += 1
                return True
            # a transaction already gone: 2xx of an INVITE go on statelessly (RFC 6026)
            if got.key is None or (key[1] == "INVITE" and 200 <= resp.status < 300):
                return False
            self._rpl_received.value += 1
            self._rpl_absorbed.value += 1
            return True
        self._rpl_received.value += 1
        self._branch_response(ctx, resp)
        return True

    def _branch_response(self, ctx: ClientTx, resp: Any) -> None:
        status = resp.status
        stx = ctx.server
        ctx.replied = True
        if ctx.done:
            # after our 408, or further 2xx of an INVITE (every one is forwarded, RFC 6026)
            if ctx.is_invite and 200 <= status < 300:
                self._relay_2xx(stx, ctx, resp)
            else:
                self._rpl_absorbed.value += 1
            return
        # §16.7 step 10: after a final only an INVITE's 2xx goes on (as tm; not a SUBSCRIBE's)
        if 200 <= status < 300 and (ctx.is_invite or not stx.completed):
            ctx.done = True
            ctx.status = status
            ctx.final = resp
            if not stx.completed and stx.on_final is not None:
                stx.on_final(stx, resp)
            self._relay_2xx(stx, ctx, resp)
            return
        # tm's onreply_route runs for every reply of a branch, before anything is decided:
        # provisional (even 100, never relayed) and negative final alike
        dropped = stx.on_response is not None and stx.on_response(stx, ctx, resp)
        if status >= 200:
            self._branch_final(ctx, status, resp)
            return
        ctx.status = max(ctx.status, status)
        if status == 100 or stx.completed or stx.endpoint is None or dropped:
            self._rpl_absorbed.value += 1  # (a provisional to our own request too)
            return
        self._rpl_relayed.value += 1
        resp.pop_via()
        self.reply(stx, resp)

    def _relay_2xx(self, stx: ServerTx, ctx: ClientTx, resp: Any) -> None:
        self._rpl_relayed.value += 1
        if stx.on_response is not None:
            stx.on_response(stx, ctx, resp)
        resp.pop_via()
        if not stx.completed:
            self.reply(stx, resp)
            return
        if stx.endpoint is None:
            return
        # A further 2xx of a forked INVITE: the server transaction (Accepted) sends it; after
        # a non-2xx final or once it is gone the proxy forwards it anyway (RFC 6026).
        events = self.sip.send_response(stx.key, resp, self.timers.now())
        if events:
            self._run(events)
        else:
            stx.endpoint.send(resp.to_bytes(), stx.reply_addr)
