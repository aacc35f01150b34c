"""Stateful forwarding (Kamailio's tm): server transactions, forked client branches,
retransmissions, final-response timers, response selection, CANCEL and hop-by-hop ACK.

The proxy core (:mod:`kamtool.proxy.routing`) decides *where* a request goes; this module
does RFC 3261 §16/§17 *how*:

* a :class:`ServerTx` per incoming request that is relayed (or answered statefully),
  keyed by the top Via branch and sent-by; a retransmitted request gets the last response
  again; the ACK of a non-2xx final is absorbed here (§17.2.1);
* a :class:`ClientTx` per branch: our Via branch, retransmissions over UDP (timers A/E
  with T1/T2), the final-response timer ``fr_timer``, or ``fr_inv_timer`` once an INVITE
  branch got a provisional reply (Kamailio's semantics; §17.1.1.2 timer B otherwise);
* forking: the targets come in q-groups; a group is tried in parallel, the next group
  only after every branch of the previous one failed (§16.6 serial by q, Kamailio's
  ``t_load_contacts``/``t_next_contacts``);
* best-response selection (§16.7): 2xx forwarded at once (every one, for INVITE), 6xx
  ends the search, otherwise the lowest class, with a locally made 408 for silent branches
  and 487 for a cancelled transaction;
* CANCEL: answered 200 at once, CANCEL sent on every branch that has had a provisional,
  and on the others as soon as they do (§16.10).

All timers live in the proxy's single :class:`~kamtool.proxy.timers.TimerHeap`.
``stats()`` returns ``tm.stats``-shaped numbers; ``in_flight()`` the number of
transactions that still wait for a final response (graceful shutdown waits for 0).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Dest = tuple[str, str, int]  # (proto, host, port)


@dataclass(slots=True)
class Target:
    """Where one branch goes: the new Request-URI and the next hop."""

    uri: str
    dest: Dest
    q: float = 1.0
    path: list[str] = field(default_factory=list)  # Route values to push (registrar Path)
    binding: Any = None


@dataclass(eq=False, slots=True)
class ClientTx:
    """One forwarded branch of a server transaction."""

    server: ServerTx
    branch: str
    target: Target
    data: bytes
    request: Any  # the forwarded request (parsed), for ACK/CANCEL construction
    status: int = 0  # last status received (0: nothing yet)
    final: Any = None  # final response (parsed) or None
    interval: float = 0.0
    retrans: Any = None  # Timer
    fr: Any = None  # Timer
    cancel_sent: bool = False
    done: bool = False

    @property
    def is_invite(self) -> bool:
        return self.server.method == "INVITE"


@dataclass(eq=False, slots=True)
class ServerTx:
    """A request the proxy handles statefully."""

    key: tuple[str, str, str]
    method: str
    request: Any
    endpoint: Any  # where the request came in (reply goes back this way)
    reply_addr: tuple[str, int]
    branches: list[ClientTx] = field(default_factory=list)
    groups: list[list[Target]] = field(default_factory=list)  # q-groups not yet tried
    last_status: int = 0
    last_response: bytes | None = None
    canceled: bool = False
    completed: bool = False  # final response sent
    retrans: Any = None  # Timer G (INVITE non-2xx final over UDP)
    interval: float = 0.0
    cleanup: Any = None  # Timer
    on_final: Callable[[ServerTx, Any], None] | None = None  # before a final is relayed
    on_response: Callable[[ServerTx, ClientTx, Any], None] | None = None  # any relayed reply
    build: Callable[[ServerTx, Target, str], tuple[bytes, Any]] | None = None
    ctx: Any = None  # routing data (dialog ...)


class TransactionLayer:
    """Server and client transactions of the proxy (see module docstring).

    The routing core supplies:

    * ``send(dest, data)`` and ``reply(stx, data)``: put bytes on the wire;
    * ``codec``: builds responses, ACKs and CANCELs (``codec.local_reply(request, status,
      reason)``, ``codec.ack_for(client_request, response)``, ``codec.cancel_for(
      client_request)``, ``codec.strip_via(response)``); these take and return the SIP
      core's message objects and bytes.
    """

    def __init__(
        self,
        timers: Any,
        *,
        send: Callable[[Dest, bytes], None],
        reply: Callable[[ServerTx, bytes], None],
        codec: Any,
        stats: Any,
        fr_timer: float = 5.0,
        fr_inv_timer: float = 120.0,
        t1: float = 0.5,
        t2: float = 4.0,
    ) -> None:
        self.timers = timers
        self.send = send
        self.reply_bytes = reply
        self.codec = codec
        self.fr_timer = fr_timer
        self.fr_inv_timer = fr_inv_timer
        self.t1 = t1
        self.t2 = t2
        self.server: dict[tuple[str, str, str], ServerTx] = {}
        self.client: dict[str, ClientTx] = {}
        self.waiting = 0
        self.total = 0
        self.total_local = 0
        self.rpl_received = 0
        self.rpl_generated = 0
        self.rpl_sent = 0
        self.status_classes = [0] * 7
        c = stats.counter
        self._uas = c("tmx", "UAS_transactions")
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
            "total_local": self.total_local,
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

    def lookup(self, key: tuple[str, str, str]) -> ServerTx | None:
        return self.server.get(key)

    # ------------------------------------------------------------------ server side

    def new_server(
        self, key: tuple[str, str, str], method: str, request: Any, endpoint: Any, addr: Any
    ) -> ServerTx:
        """Create the server transaction of a new request (t_newtran)."""
        stx = ServerTx(key, method, request, endpoint, addr)
        self.server[key] = stx
        self._uas.value += 1
        return stx

    def retransmission(self, stx: ServerTx) -> None:
        """The request of ``stx`` came again: resend the last response (if any)."""
        if stx.last_response is not None:
            self.reply_bytes(stx, stx.last_response)

    def ack_received(self, stx: ServerTx) -> None:
        """ACK for our non-2xx final: stop retransmitting it (§17.2.1, timer G)."""
        if stx.retrans is not None:
            stx.retrans.cancel()
            stx.retrans = None

    def reply(self, stx: ServerTx, status: int, data: bytes) -> None:
        """Send a response on ``stx`` (local or relayed), keeping it for retransmissions."""
        if stx.completed and status >= 200:
            return
        if stx.endpoint is None:  # our own request (send_local): the reply stops here
            if status >= 200:
                self._complete(stx, status)
            return
        stx.last_status = status
        stx.last_response = data
        self._rpl_sent.value += 1
        self.reply_bytes(stx, data)
        if status >= 200:
            self._complete(stx, status)

    def local_reply(
        self, stx: ServerTx, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """A response made by the proxy itself (t_reply)."""
        self._rpl_generated.value += 1
        data = self.codec.local_reply(stx.request, status, reason, headers or [])
        self.reply(stx, status, data)

    def _complete(self, stx: ServerTx, status: int) -> None:
        stx.completed = True
        self._cls[min(status // 100, 6)].value += 1
        udp = getattr(stx.endpoint, "proto", "udp") == "udp"
        if stx.method == "INVITE" and status >= 300 and udp:
            stx.interval = self.t1
            stx.retrans = self.timers.call_later(stx.interval, self._retransmit_final, stx)
        linger = 64 * self.t1 if udp else 1.0  # timers H/J
        if stx.method == "INVITE" and status < 300:
            linger = 64 * self.t1  # absorb INVITE retransmissions after 2xx (RFC 6026)
        self._cancel_branches(stx)
        stx.cleanup = self.timers.call_later(linger, self._drop_server, stx)

    def _retransmit_final(self, stx: ServerTx) -> None:
        if stx.last_response is None or stx.key not in self.server:
            return
        self.reply_bytes(stx, stx.last_response)
        stx.interval = min(stx.interval * 2, self.t2)
        stx.retrans = self.timers.call_later(stx.interval, self._retransmit_final, stx)

    def _drop_server(self, stx: ServerTx) -> None:
        if stx.retrans is not None:
            stx.retrans.cancel()
        for ctx in stx.branches:
            self._drop_client(ctx)
        if self.server.get(stx.key) is stx:
            del self.server[stx.key]

    # ------------------------------------------------------------------ forwarding

    def relay(self, stx: ServerTx, groups: list[list[Target]]) -> None:
        """Forward ``stx`` to the targets, group after group (serial forking by q).

        An INVITE is answered ``100 Trying`` at once (RFC 3261 §16.2; Kamailio's text), so
        the caller stops retransmitting while the branches ring."""
        stx.groups = [g for g in groups if g]
        if not stx.groups:
            self.local_reply(stx, 404, "Not Found")
            return
        if stx.method == "INVITE" and stx.endpoint is not None:
            self.local_reply(stx, 100, "trying -- your call is important to us")
        self._next_group(stx)

    def send_local(
        self,
        method: str,
        dest: Dest,
        build: Callable[[str], bytes],
    ) -> ServerTx:
        """A request the proxy itself originates (the BYEs of dlg.end_dlg / dialog lifetime):
        a client transaction with retransmissions and fr_timer, whose replies are absorbed.
        ``build(branch)`` returns the request bytes for the Via branch given."""
        self.total_local += 1
        stx = ServerTx(("local", self.codec.new_branch(), method), method, None, None, ("", 0))
        self.server[stx.key] = stx
        stx.build = lambda _stx, _target, branch: (build(branch), None)
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
        data, request = stx.build(stx, target, branch)
        ctx = ClientTx(stx, branch, target, data, request)
        stx.branches.append(ctx)
        self.client[branch] = ctx
        self._uac.value += 1
        self.send(target.dest, data)
        if target.dest[0] == "udp":
            ctx.interval = self.t1
            ctx.retrans = self.timers.call_later(ctx.interval, self._retransmit_request, ctx)
        ctx.fr = self.timers.call_later(self.fr_timer, self._branch_timeout, ctx)

    def _retransmit_request(self, ctx: ClientTx) -> None:
        if ctx.done or ctx.status >= 100 and ctx.is_invite:
            return
        self.send(ctx.target.dest, ctx.data)
        # INVITE: timer A doubles without cap; non-INVITE: timer E capped at T2 (§17.1.2.2)
        ctx.interval = ctx.interval * 2 if ctx.is_invite else min(ctx.interval * 2, self.t2)
        if ctx.status >= 100:
            ctx.interval = self.t2
        ctx.retrans = self.timers.call_later(ctx.interval, self._retransmit_request, ctx)

    def _branch_timeout(self, ctx: ClientTx) -> None:
        if ctx.done:
            return
        log.debug("branch %s to %s timed out", ctx.branch, ctx.target.dest)
        if ctx.is_invite and ctx.status >= 100 and not ctx.cancel_sent:
            self._send_cancel(ctx)
        self._branch_final(ctx, 408, None)

    def _branch_final(self, ctx: ClientTx, status: int, response: Any) -> None:
        ctx.done = True
        ctx.status = status
        ctx.final = response
        if ctx.retrans is not None:
            ctx.retrans.cancel()
        if ctx.fr is not None:
            ctx.fr.cancel()
        stx = ctx.server
        if stx.completed:
            return
        if any(not b.done for b in stx.branches):
            if status >= 600:
                self._finish(stx)  # 6xx: stop searching (§16.7 step 5)
            return
        best = self._best(stx)
        if not stx.canceled and best.status < 600 and self._next_group(stx):
            return
        self._finish(stx)

    def _best(self, stx: ServerTx) -> ClientTx:
        done = [b for b in stx.branches if b.done]
        six = [b for b in done if b.status >= 600]
        if six:
            return six[0]

        def rank(b: ClientTx) -> tuple[int, int]:
            # lowest class wins; a real reply beats our own 408 of the same class
            return (b.status // 100, 1 if b.final is None else 0)

        return min(done, key=rank)

    def _finish(self, stx: ServerTx) -> None:
        """Relay the best final response (or a local 408/487)."""
        if stx.completed:
            return
        best = self._best(stx)
        if stx.endpoint is None:  # our own request: nobody to answer
            self._complete(stx, best.status)
            return
        if stx.on_final is not None:
            stx.on_final(stx, best.final)
        if stx.canceled and (best.final is None or best.status == 408):
            self.local_reply(stx, 487, "Request Terminated")
        elif best.final is None:
            self.local_reply(stx, 408, "Request Timeout")
        else:
            self._rpl_relayed.value += 1
            self.reply(stx, best.status, self.codec.strip_via(best.final))

    def _cancel_branches(self, stx: ServerTx) -> None:
        for ctx in stx.branches:
            if ctx.done:
                continue
            if ctx.status >= 100 and ctx.is_invite:
                self._send_cancel(ctx)
            ctx.cancel_sent = ctx.cancel_sent or ctx.status < 100  # CANCEL on first 1xx

    def cancel(self, stx: ServerTx) -> None:
        """A CANCEL matched ``stx`` (already answered 200 by the caller)."""
        if stx.completed:
            return
        stx.canceled = True
        stx.groups = []
        for ctx in stx.branches:
            if not ctx.done and ctx.status >= 100:
                self._send_cancel(ctx)
        # Branches without a provisional get theirs when it arrives (see response()).

    def _send_cancel(self, ctx: ClientTx) -> None:
        if ctx.cancel_sent and ctx.status >= 100:
            return
        ctx.cancel_sent = True
        self.total_local += 1
        self.send(ctx.target.dest, self.codec.cancel_for(ctx.request))

    # ------------------------------------------------------------------ responses

    def response(self, branch: str, status: int, response: Any) -> bool:
        """A response whose top Via carries our ``branch``. False if no branch matches."""
        ctx = self.client.get(branch)
        if ctx is None:
            return False
        self._rpl_received.value += 1
        stx = ctx.server
        if ctx.done:
            # late or retransmitted final: 2xx for INVITE are forwarded (RFC 6026),
            # non-2xx get their ACK again
            if ctx.is_invite and 200 <= status < 300:
                self._rpl_relayed.value += 1
                self._relay_reply(stx, ctx, response)
                self.reply_bytes(stx, self.codec.strip_via(response))
            elif ctx.is_invite and status >= 300:
                self.send(ctx.target.dest, self.codec.ack_for(ctx.request, response))
            else:
                self._rpl_absorbed.value += 1
            return True
        if status < 200:
            first = ctx.status < 100
            ctx.status = max(ctx.status, status)
            if ctx.is_invite:
                if ctx.retrans is not None:
                    ctx.retrans.cancel()
                    ctx.retrans = None
                if first:
                    if ctx.fr is not None:
                        ctx.fr.cancel()
                    ctx.fr = self.timers.call_later(self.fr_inv_timer, self._branch_timeout, ctx)
                if ctx.cancel_sent or stx.canceled or stx.completed:
                    ctx.cancel_sent = False
                    self._send_cancel(ctx)
            if status == 100 or stx.completed:
                self._rpl_absorbed.value += 1
                return True
            self._rpl_relayed.value += 1
            self._relay_reply(stx, ctx, response)
            self.reply(stx, status, self.codec.strip_via(response))
            return True
        if ctx.is_invite and status >= 300:
            self.send(ctx.target.dest, self.codec.ack_for(ctx.request, response))
        if 200 <= status < 300:
            ctx.done = True
            ctx.status = status
            ctx.final = response
            for t in (ctx.retrans, ctx.fr):
                if t is not None:
                    t.cancel()
            self._rpl_relayed.value += 1
            if not stx.completed and stx.on_final is not None:
                stx.on_final(stx, response)
            self._relay_reply(stx, ctx, response)
            data = self.codec.strip_via(response)
            if stx.completed:
                self.reply_bytes(stx, data)  # further 2xx of a forked INVITE
            else:
                self.reply(stx, status, data)
            return True
        self._branch_final(ctx, status, response)
        return True

    def rpl_absorbed(self) -> None:
        """Count a reply consumed by the proxy (e.g. the 200 of a CANCEL it sent)."""
        self._rpl_received.value += 1
        self._rpl_absorbed.value += 1

    def _relay_reply(self, stx: ServerTx, ctx: ClientTx, response: Any) -> None:
        if stx.on_response is not None:
            stx.on_response(stx, ctx, response)

    def _drop_client(self, ctx: ClientTx) -> None:
        for t in (ctx.retrans, ctx.fr):
            if t is not None:
                t.cancel()
        if self.client.get(ctx.branch) is ctx:
            del self.client[ctx.branch]
