"""A simulated SIP phone over UDP: register, call, answer, hang up (RFC 3261 UA core).

The protocol work is :mod:`kamtool.sip`'s: the :class:`~kamtool.sip.transaction.
TransactionLayer` runs every client and server transaction (retransmissions, the ACK of a
non-2xx), :class:`~kamtool.sip.dialog.Dialog` keeps the call's route set and CSeq, and
:mod:`kamtool.sip.digest` answers 401/407 challenges. This module is the shell around
them, as :mod:`kamtool.core.sipping` is for one OPTIONS: it owns the socket and the
loop's clock, performs the layer's ``Send`` events and feeds it what arrives.

    phone = Phone("1001", "secret", "127.0.0.1", ("127.0.0.1", 5060))
    await phone.start()
    await phone.register()                  # REGISTER, 401, REGISTER with digest, 200
    call = await phone.call("1002")         # INVITE, 407, ACK, INVITE with digest, 180, 200, ACK
    await phone.hang_up()                   # BYE, 200

A phone answers incoming calls by itself (180 Ringing, then 200 OK after
``answer_after`` seconds), answers BYE, CANCEL and OPTIONS, and records every message it
sends or receives in :attr:`Phone.trace`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from kamtool.errors import OperationTimeout
from kamtool.sip import ParseError, Request, Response, make_response, parse_message
from kamtool.sip.dialog import Dialog
from kamtool.sip.digest import answer_challenge, select_challenge
from kamtool.sip.events import (
    Peer,
    RequestReceived,
    ResponseReceived,
    Send,
    TransactionTimeout,
    TransportError,
)
from kamtool.sip.timers import TimerConfig
from kamtool.sip.transaction import TransactionLayer
from kamtool.sip.uri import SipURI, parse_uri
from kamtool.ua.call import SDP, Call, CallFailed, TraceEntry, summarize

USER_AGENT = "kamtool demo phone"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, phone: Phone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.phone._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP: the layer's timers notice
        pass


class Phone:
    """One SIP account on one UDP socket (see the module docstring).

    Args:
        user, password, domain: the account (digest username, realm is the proxy's).
        proxy: (ip, port) of the outbound proxy every initial request goes to.
        host: the local address to bind (port chosen by the system).
        answer_after: seconds between 180 Ringing and 200 OK of an incoming call.
        timers: SIP timers (T1...); the default gives up on a request after 10 s.
    """

    def __init__(
        self,
        user: str,
        password: str,
        domain: str,
        proxy: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        answer_after: float = 0.3,
        timers: TimerConfig | None = None,
    ) -> None:
        self.user, self.domain, self.proxy, self.host = user, domain, proxy, host
        self._password = password
        self.answer_after = answer_after
        self.layer = TransactionLayer(timers or TimerConfig(fr_timer=10.0), trying_after=None)
        self.trace: list[TraceEntry] = []
        self.calls: list[Call] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: dict[Any, asyncio.Future[Response]] = {}
        self._on_provisional: dict[Any, Callable[[Response], None]] = {}
        self._cseq = 0
        self._register_call_id = self._token() + "@" + host
        self._tag = self._token()[:12]
        self.registered_contact: str | None = None

    # ------------------------------------------------------------------ set-up

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host}:{self.port}>"

    async def start(self) -> None:
        """Bind the UDP socket."""
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(self.host, 0)
        )
        self._transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        """Close the socket; requests still waiting fail."""
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CallFailed(f"{self.user}: the phone was closed"))

    # ------------------------------------------------------------------ what it does

    async def register(self, expires: int = 300) -> Response:
        """REGISTER the contact (answering the 401 challenge); the 200 OK."""

        def build(cseq: int, auth: list[tuple[str, str]]) -> Request:
            return self._request(
                "REGISTER",
                f"sip:{self.domain}",
                cseq,
                to=f"<{self.aor}>",
                call_id=self._register_call_id,
                extra=[("Contact", self.contact), ("Expires", str(expires)), *auth],
            )

        response, _ = await self._with_auth(build)
        if response.status >= 300:
            raise CallFailed(f"{self.user}: REGISTER got {response.status} {response.reason}")
        self.registered_contact = self.contact
        return response

    async def call(self, callee: str) -> Call:
        """Call ``callee`` (a user of our domain); returns when the call is answered."""
        target = f"sip:{callee}@{self.domain}"
        call = Call(call_id=self._token() + "@" + self.host, peer=target, outgoing=True)
        self.calls.append(call)
        tag = self._token()[:12]
        body = SDP.format(id=secrets.randbelow(10**9), ip=self.host).encode()

        def build(cseq: int, auth: list[tuple[str, str]]) -> Request:
            return self._request(
                "INVITE",
                target,
                cseq,
                to=f"<{target}>",
                call_id=call.call_id,
                extra=[("Contact", self.contact), ("Content-Type", "application/sdp"), *auth],
                body=body,
                tag=tag,
            )

        response, invite = await self._with_auth(build, on_provisional=call.provisional.append)
        call.status = response.status
        if response.status >= 300:
            call.ended_by = "them"
            raise CallFailed(f"{self.user}: the call to {callee} got {response.status} "
                             f"{response.reason}")  # fmt: skip
        call.invite, call.answered = invite, True
        call.dialog = Dialog.from_uac(invite, response)
        self._send_ack(call)
        return call

    async def options(self) -> Response:
        """An OPTIONS to the proxy, as phones send to keep their NAT binding open."""
        self._cseq += 1
        request = self._request("OPTIONS", f"sip:{self.domain}", self._cseq,
                                to=f"<sip:{self.domain}>", call_id=self._token() + "@" + self.host,
                                extra=[("Accept", "application/sdp")])  # fmt: skip
        return await self._transact(request, self.proxy)

    async def hang_up(self, call: Call | None = None) -> Response | None:
        """BYE on ``call`` (default: the last call still up); its final response."""
        call = call or next((c for c in reversed(self.calls) if c.up), None)
        if call is None or call.dialog is None or not call.up:
            return None
        bye = call.dialog.create_request("BYE", via=self._via(), contact=None,
                                         headers=[("User-Agent", USER_AGENT)])  # fmt: skip
        call.ended_by = "us"
        response = await self._transact(bye, self._next_hop(call.dialog))
        call.dialog.receive_response(response)
        return response

    # ------------------------------------------------------------------ requests

    def _token(self) -> str:
        return secrets.token_hex(8)

    def _via(self) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{self._token()};rport"

    def _request(
        self,
        method: str,
        uri: str,
        cseq: int,
        *,
        to: str,
        call_id: str,
        extra: list[tuple[str, str]],
        body: bytes = b"",
        tag: str | None = None,
    ) -> Request:
        headers: list[tuple[str, object]] = [
            ("Via", self._via()),
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={tag or self._tag}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {method}"),
            ("User-Agent", USER_AGENT),
            *extra,
        ]
        return Request(method, uri, headers, body)

    async def _with_auth(
        self,
        build: Callable[[int, list[tuple[str, str]]], Request],
        on_provisional: Callable[[int], None] | None = None,
    ) -> tuple[Response, Request]:
        """Send ``build(cseq, [])``; on 401/407 once more with digest credentials."""
        auth: list[tuple[str, str]] = []
        for _ in range(2):
            self._cseq += 1
            request = build(self._cseq, auth)
            response = await self._transact(request, self.proxy, on_provisional)
            if response.status not in (401, 407) or auth:
                return response, request
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = select_challenge(response.headers.get_all(header))
            if challenge is None:
                return response, request
            credentials = answer_challenge(
                challenge, method=request.method, uri=request.uri_text, username=self.user,
                password=self._password, cnonce=self._token(),
            )  # fmt: skip
            name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            auth = [(name, credentials.to_header())]
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transact(
        self,
        request: Request,
        destination: tuple[str, int],
        on_provisional: Callable[[int], None] | None = None,
    ) -> Response:
        """Run a client transaction; its final response (a timeout raises)."""
        assert self._loop is not None
        peer = Peer("udp", destination[0], destination[1])
        events = self.layer.send_request(request, peer, self._loop.time())
        key = next(e.key for e in events if isinstance(e, Send))
        future: asyncio.Future[Response] = self._loop.create_future()
        self._waiting[key] = future
        if on_provisional is not None:
            self._on_provisional[key] = lambda r: on_provisional(r.status)
        try:
            self._perform(events)
            return await future
        finally:
            self._waiting.pop(key, None)
            self._on_provisional.pop(key, None)

    def _next_hop(self, dialog: Dialog) -> tuple[str, int]:
        """Where an in-dialog request goes: the first route (or the target) as ip:port."""
        try:
            uri = parse_uri(dialog.next_hop(), "Route")
        except ParseError:
            return self.proxy
        if isinstance(uri, SipURI):
            return uri.host.strip("[]"), uri.port or 5060
        return self.proxy

    def _send_ack(self, call: Call) -> None:
        """The ACK of our INVITE's 2xx (end to end, no transaction: 13.2.2.4)."""
        assert call.dialog is not None and call.invite is not None
        if call.ack is None:
            ack = call.dialog.create_request("ACK", via=self._via(), cseq=call.invite.cseq.num)
            call.ack = ack.to_bytes()
        self._send(call.ack, self._next_hop(call.dialog))

    # ------------------------------------------------------------------ the wire

    def _send(self, data: bytes, destination: tuple[str, int]) -> None:
        if self._transport is None:
            return
        self._transport.sendto(data, destination)
        self._note(data, destination, outgoing=True)

    def _note(self, data: bytes | Request | Response, peer: tuple[str, int], *,
              outgoing: bool) -> None:  # fmt: skip
        try:
            msg = parse_message(data) if isinstance(data, bytes) else data
            summary = summarize(msg)
        except ParseError:
            summary = "(unparsable)"
        assert self._loop is not None
        self.trace.append(TraceEntry(self._loop.time(), self.user, outgoing,
                                     f"{peer[0]}:{peer[1]}", summary))  # fmt: skip

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip() == b"":
            return  # a keepalive
        try:
            msg = parse_message(data)
        except ParseError:
            return  # not SIP: nothing to answer
        assert self._loop is not None
        self._note(msg, addr, outgoing=False)
        self._perform(self.layer.receive(msg, Peer("udp", addr[0], addr[1]), self._loop.time()))

    def _perform(self, events: list[Any]) -> None:
        """Carry out the transaction layer's events, then re-arm its timer."""
        for event in events:
            if isinstance(event, Send):
                self._send(event.data, (event.destination.host, event.destination.port))
            elif isinstance(event, ResponseReceived):
                self._response(event)
            elif isinstance(event, RequestReceived):
                self._incoming(event)
            elif isinstance(event, TransactionTimeout | TransportError):
                future = self._waiting.get(event.key)
                if future is not None and not future.done():
                    future.set_exception(OperationTimeout(
                        f"{self.user}: no final response from {self.proxy[0]}:{self.proxy[1]}"
                    ))  # fmt: skip
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.layer.next_deadline()
        if deadline is not None and self._loop is not None and self._transport is not None:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer = None
        self._perform(self.layer.handle_timer(self._loop.time()))

    def _response(self, event: ResponseReceived) -> None:
        response = event.response
        if event.key is None:
            # A 2xx retransmission after the INVITE transaction ended: ACK it again.
            call = self._call_of(response.call_id)
            if call is not None and call.ack is not None and response.status < 300:
                self._send_ack(call)
            return
        future = self._waiting.get(event.key)
        if response.status < 200:
            handler = self._on_provisional.get(event.key)
            if handler is not None:
                handler(response)
        elif future is not None and not future.done():
            future.set_result(response)
        elif response.cseq.method == "INVITE" and response.status < 300:
            call = self._call_of(response.call_id)
            if call is not None and call.ack is not None:
                self._send_ack(call)  # 2xx retransmission in Accepted

    def _call_of(self, call_id: str | None) -> Call | None:
        return next((c for c in self.calls if c.call_id == call_id), None)

    # ------------------------------------------------------------------ answering

    def _answer(self, key: Any, request: Request, status: int, *, to_tag: str | None = None,
                headers: list[tuple[str, object]] | None = None, body: bytes = b"",
                dialog: bool = False) -> None:  # fmt: skip
        assert self._loop is not None
        response = make_response(
            request, status, to_tag=to_tag or self._token()[:12],
            headers=[("User-Agent", USER_AGENT), *(headers or [])], body=body,
            copy_record_route=dialog,
        )  # fmt: skip
        retransmit = dialog and 200 <= status < 300
        self._perform(self.layer.send_response(key, response, self._loop.time(),
                                               retransmit_2xx=retransmit))  # fmt: skip

    def _incoming(self, event: RequestReceived) -> None:
        request, key = event.request, event.key
        method = request.method
        if method == "ACK":
            call = self._call_of(request.call_id)
            if call is not None and call.dialog is not None and call.dialog.matches(request):
                call.dialog.receive_request(request)
            return
        if key is None:
            return
        if method == "INVITE" and not request.to.tag:
            self._ring(key, request)
        elif method == "BYE":
            call = self._call_of(request.call_id)
            if call is None or call.dialog is None or not call.dialog.matches(request):
                self._answer(key, request, 481)
                return
            status = call.dialog.receive_request(request)
            if status is None:
                call.ended_by = call.ended_by or "them"
            self._answer(key, request, status or 200)
        elif method == "CANCEL":
            self._answer(key, request, 200)
            if event.cancels is not None and self.layer.state(event.cancels) == "Proceeding":
                invite = self.layer.request(event.cancels)
                call = self._call_of(request.call_id)
                if call is not None:
                    call.ended_by = "them"
                if invite is not None:
                    tag = call.dialog.local_tag if call and call.dialog else None
                    self._answer(event.cancels, invite, 487, to_tag=tag)
        elif method == "OPTIONS":
            self._answer(key, request, 200, headers=[("Allow", ALLOW)])
        else:
            self._answer(key, request, 405 if method != "INVITE" else 488)

    def _ring(self, key: Any, invite: Request) -> None:
        """A new call: 180 Ringing now, 200 OK after ``answer_after`` seconds."""
        assert self._loop is not None
        tag = self._token()[:12]
        call = Call(call_id=invite.call_id or "", peer=str(invite.from_.uri), outgoing=False,
                    dialog=Dialog.from_uas(invite, tag))  # fmt: skip
        self.calls.append(call)
        contact = [("Contact", self.contact)]
        self._answer(key, invite, 180, to_tag=tag, headers=contact, dialog=True)

        def pick_up() -> None:
            if call.ended_by is not None or self.layer.state(key) != "Proceeding":
                return  # cancelled meanwhile
            body = SDP.format(id=secrets.randbelow(10**9), ip=self.host).encode()
            self._answer(key, invite, 200, to_tag=tag, dialog=True, body=body,
                         headers=[*contact, ("Content-Type", "application/sdp")])  # fmt: skip
            assert call.dialog is not None
            call.dialog.confirm()
            call.answered = True

        self._loop.call_later(self.answer_after, pick_up)

    def active_call(self) -> Call | None:
        """The last call that is up, if any."""
        return next((c for c in reversed(self.calls) if c.up), None)
