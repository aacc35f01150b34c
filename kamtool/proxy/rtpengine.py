"""Asyncio client of RTPEngine's ng control protocol, with weights and failover.

What a route's ``KSR.rtpengine.*`` calls end in: :meth:`RtpEngine.offer`,
:meth:`~RtpEngine.answer`, :meth:`~RtpEngine.delete` and :meth:`~RtpEngine.manage`
rewrite a SIP message's SDP through RTPEngine; :meth:`~RtpEngine.query` and
:meth:`~RtpEngine.show` serve the RPCs. Message building, flags and node choice are
sans-IO in :mod:`kamtool.sip.ng`; here are the socket, the cookies and the clock.

A request is sent up to ``retries`` times, ``timeout`` seconds apart, with one cookie;
a node that never answers is disabled for ``disable_for`` seconds and the request goes
to the next usable node of the set.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from kamtool.errors import BadInput, ConfigError, KamtoolError, OperationTimeout
from kamtool.sip.message import Message
from kamtool.sip.ng import (
    NgError,
    NgNode,
    NgSet,
    build_params,
    manage_action,
    parse_reply,
    request_bytes,
    retransmit_schedule,
)

__all__ = ["RtpEngine", "RtpEngineError", "RtpEngineUnavailable"]


class RtpEngineError(KamtoolError):
    """RTPEngine answered with an error (``result: error``)."""

    code = "rtpengine_error"


class RtpEngineUnavailable(OperationTimeout):
    """No RTPEngine of the set answered."""

    code = "rtpengine_unavailable"


class _Endpoint(asyncio.DatagramProtocol):
    """The client's UDP socket: hands each reply to the waiter of its cookie."""

    def __init__(self, waiters: dict[str, asyncio.Future[dict[str, Any]]]) -> None:
        self.waiters = waiters

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            cookie, reply = parse_reply(data)
        except NgError:
            return  # not ours or garbled: a retransmission may still get a good one
        fut = self.waiters.get(cookie)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for a stopped RTPEngine: the timeout handles failover
        pass


class RtpEngine:
    """A set of RTPEngines (Kamailio's ``rtpengine_sock`` syntax) and its client socket."""

    def __init__(
        self,
        spec: str,
        *,
        timeout: float = 1.0,
        retries: int = 5,
        disable_for: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.set = NgSet.from_spec(spec, disable_for)
            self.schedule = retransmit_schedule(timeout, retries)
        except NgError as e:
            raise ConfigError(f"rtpengine: {e}") from None
        self.clock = clock
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._transports: dict[int, asyncio.DatagramTransport] = {}  # by address family
        self._prefix = secrets.token_hex(4)
        self._seq = itertools.count(1)

    async def _transport(self, node: NgNode) -> asyncio.DatagramTransport:
        family = socket.AF_INET6 if ":" in node.host else socket.AF_INET
        tr = self._transports.get(family)
        if tr is None or tr.is_closing():
            loop = asyncio.get_running_loop()
            local = ("::1", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            tr, _ = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self._waiters), local_addr=local, family=family
            )
            self._transports[family] = tr
        return tr

    def close(self) -> None:
        for tr in self._transports.values():
            tr.close()
        self._transports.clear()

    async def _ask(self, node: NgNode, params: dict[str, Any]) -> dict[str, Any] | None:
        """Send to one node with retransmissions; its reply, or None when it never answers."""
        cookie = f"{self._prefix}_{next(self._seq)}"
        data = request_bytes(cookie, params)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[cookie] = fut
        try:
            tr = await self._transport(node)
            for wait in self.schedule:
                tr.sendto(data, (node.host, node.port))
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), wait)
                except TimeoutError:
                    continue
            return None
        finally:
            del self._waiters[cookie]

    def _ask_blocking(self, node: NgNode, params: dict[str, Any]) -> dict[str, Any] | None:
        """:meth:`_ask` on a blocking socket, for a caller that cannot wait on the loop."""
        cookie = f"{self._prefix}_{next(self._seq)}"
        data = request_bytes(cookie, params)
        family = socket.AF_INET6 if ":" in node.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            for wait in self.schedule:
                sock.sendto(data, (node.host, node.port))
                deadline = time.monotonic() + wait
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(left)
                    try:
                        got = sock.recv(65535)
                    except TimeoutError:
                        break
                    except OSError:  # ICMP unreachable: wait out the interval
                        time.sleep(max(0.0, deadline - time.monotonic()))
                        break
                    try:
                        rcookie, reply = parse_reply(got)
                    except NgError:
                        continue
                    if rcookie == cookie:
                        return reply
        return None

    def _settle(
        self, node: NgNode, params: dict[str, Any], reply: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Book ``node``'s answer: None (it failed: try the next), else the reply."""
        if reply is None:
            self.set.failed(node, self.clock())
            return None
        self.set.answered(node)
        if reply.get("result") == "error":
            raise RtpEngineError(
                f"rtpengine {node.url}: {reply.get('error-reason', 'error')}",
                command=params.get("command"),
            )
        reply.setdefault("node", node.url)
        return reply

    @staticmethod
    def _unavailable(tried: list[str]) -> RtpEngineUnavailable:
        return RtpEngineUnavailable(
            "no RTPEngine answered" + (f" (tried {', '.join(tried)})" if tried else ""),
            hint="check rtpengine_sock and that RTPEngine is running",
        )

    async def request(self, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``params`` to the call's node, failing over; the reply (``result: ok``)."""
        tried: list[str] = []
        for node in self.set.candidates(str(params.get("call-id", "")), self.clock()):
            tried.append(node.url)
            reply = self._settle(node, params, await self._ask(node, params))
            if reply is not None:
                return reply
        raise self._unavailable(tried)

    def request_blocking(self, params: dict[str, Any]) -> dict[str, Any]:
        """:meth:`request` without the event loop: it blocks the caller (as Kamailio
        blocks its worker), for routes that must answer at once (reply routes)."""
        tried: list[str] = []
        for node in self.set.candidates(str(params.get("call-id", "")), self.clock()):
            tried.append(node.url)
            reply = self._settle(node, params, self._ask_blocking(node, params))
            if reply is not None:
                return reply
        raise self._unavailable(tried)

    # -- the KSR.rtpengine.* operations -----------------------------------------------------------
    @staticmethod
    def _params(command: str, msg: Message, flags: str, source: str | None) -> dict[str, Any]:
        try:
            return build_params(command, msg, flags, source)
        except NgError as e:
            raise BadInput(f"rtpengine_{command}: {e}") from None

    @staticmethod
    def _apply(command: str, msg: Message, reply: dict[str, Any]) -> dict[str, Any]:
        if command in ("offer", "answer"):
            sdp = reply.get("sdp")
            if not isinstance(sdp, str):
                raise RtpEngineError(f"rtpengine {command}: the reply has no SDP")
            msg.body = sdp.encode()  # to_bytes() sets Content-Length
        return reply

    async def _rewrite(
        self, command: str, msg: Message, flags: str, source: str | None = None
    ) -> dict[str, Any]:
        reply = await self.request(self._params(command, msg, flags, source))
        return self._apply(command, msg, reply)

    def rewrite_blocking(
        self, command: str, msg: Message, flags: str = "", source: str | None = None
    ) -> dict[str, Any]:
        """``offer``/``answer``/``delete`` of ``msg`` through :meth:`request_blocking`."""
        reply = self.request_blocking(self._params(command, msg, flags, source))
        return self._apply(command, msg, reply)

    def manage_blocking(
        self,
        msg: Message,
        flags: str = "",
        request_had_sdp: bool = True,
        source: str | None = None,
    ) -> dict[str, Any] | None:
        """:meth:`manage` through :meth:`request_blocking`."""
        action = manage_action(msg, request_had_sdp)
        return None if action is None else self.rewrite_blocking(action, msg, flags, source)

    async def offer(
        self, msg: Message, flags: str = "", source: str | None = None
    ) -> dict[str, Any]:
        """``rtpengine_offer``: the SDP offer in ``msg`` rewritten in place."""
        return await self._rewrite("offer", msg, flags, source)

    async def answer(
        self, msg: Message, flags: str = "", source: str | None = None
    ) -> dict[str, Any]:
        """``rtpengine_answer``: the SDP answer in ``msg`` rewritten in place."""
        return await self._rewrite("answer", msg, flags, source)

    async def delete(
        self, msg: Message, flags: str = "", source: str | None = None
    ) -> dict[str, Any]:
        """``rtpengine_delete``: the call's media session is torn down."""
        return await self._rewrite("delete", msg, flags, source)

    async def manage(
        self,
        msg: Message,
        flags: str = "",
        request_had_sdp: bool = True,
        source: str | None = None,
    ) -> dict[str, Any] | None:
        """``rtpengine_manage``: offer, answer or delete as ``msg`` calls for (None:
        nothing). ``source``: the address ``msg`` came from (``received-from``)."""
        action = manage_action(msg, request_had_sdp)
        if action is None:
            return None
        return await self._rewrite(action, msg, flags, source)

    async def query(self, call_id: str, from_tag: str = "") -> dict[str, Any]:
        """The ng ``query`` of one call (streams, totals)."""
        params: dict[str, Any] = {"command": "query", "call-id": call_id}
        if from_tag:
            params["from-tag"] = from_tag
        return await self.request(params)

    async def ping(self, url: str) -> bool:
        """Whether the node ``url`` answers an ng ``ping`` (with ``pong``)."""
        try:
            node = self.set.node(url)
        except NgError as e:
            raise BadInput(str(e)) from None
        reply = await self._ask(node, {"command": "ping"})
        return reply is not None and reply.get("result") == "pong"

    # -- the RPCs ---------------------------------------------------------------------------------
    def _named(self, url: str) -> list[NgNode]:
        try:
            return self.set.select(url)
        except NgError as e:
            raise BadInput(str(e)) from None

    def show(self, url: str = "all") -> list[dict[str, Any]]:
        """``rtpengine.show URL|all``: one row per node."""
        now = self.clock()
        wanted = self._named(url)
        return [
            dict(n.as_dict(now), set=0, index=i)
            for i, n in enumerate(self.set.nodes)
            if n in wanted
        ]

    async def ping_nodes(self, url: str = "all") -> dict[str, str]:
        """``rtpengine.ping URL|all``: a node that does not answer is disabled for
        ``disable_for``; one that answers is enabled again unless it is off by hand."""
        failed = False
        for node in self._named(url):
            if await self.ping(node.url):
                if not node.manual:
                    self.set.answered(node)
            else:
                self.set.failed(node, self.clock())
                failed = True
        return {"url": url, "status": "fail" if failed else "success"}

    async def enable(self, url: str, on: bool) -> dict[str, str]:
        """``rtpengine.enable URL|all 0|1``: off by hand, or on after a good ping (a
        node that fails the ping stays off for ``disable_for``: status ``fail``)."""
        status = "enable" if on else "disable"
        for node in self._named(url):
            if not on:
                self.set.enable(node.url, False)
            elif await self.ping(node.url):
                self.set.enable(node.url, True)
            else:
                node.manual = False
                self.set.failed(node, self.clock())
                status = "fail"
        return {"url": url, "status": status}
