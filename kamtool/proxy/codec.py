"""The proxy's use of the sans-IO SIP core: parsing, reading routing fields, building the
messages a proxy sends (forwarded requests, local replies, BYE); ACK and CANCEL are
the transaction layer's (:mod:`kamtool.sip.transaction`).

Everything the routing logic needs from :mod:`kamtool.sip` goes through :class:`Codec`,
so the routing module reads like Kamailio's script and this module holds the wire details:

* Via: ``SIP/2.0/UDP IP[:port];branch=z9hG4bK…`` (port omitted for 5060, as Kamailio);
  ``received``/``rport`` added to the sender's Via when they differ (RFC 3261 §18.2.1,
  RFC 3581);
* Record-Route: ``<sip:IP[:port][;transport=tcp];lr;ftag=<from-tag>[;did=<dialog>]>``
  (``transport=ws`` for ws: and wss: sockets alike, RFC 7118);
* To-tags of local replies: ``<32 hex>.<8 hex>`` stateless (sl) and ``<32 hex>-<8 hex>``
  from transactions (tm), stable for retransmissions of the same request;
* no Server header unless ``server_signature`` is on.
"""

from __future__ import annotations

import itertools
import os
import zlib
from typing import Any

from kamtool.proxy.config import Listen, ProxyConfig
from kamtool.proxy.dest import dest_of_uri
from kamtool.proxy.transaction import Target
from kamtool.sip.errors import ParseError
from kamtool.sip.headers import Via, make_branch, parse_name_addr_list
from kamtool.sip.message import Headers, Request, Response, make_response
from kamtool.sip.parser import parse_message
from kamtool.sip.uri import SipURI, format_host, parse_uri
from kamtool.sip.validate import check_request

__all__ = ["Codec", "ParseFailure"]


class ParseFailure(Exception):
    """A message we refuse; ``request`` is what to answer it with (the parser's partial
    request, :attr:`kamtool.sip.errors.ParseError.request`), or None."""

    def __init__(self, err: ParseError, request: Any = None) -> None:
        super().__init__(str(err))
        self.status = err.status_code
        self.reason = err.reason
        self.headers = list(err.headers)  # e.g. Unsupported for a 420
        self.respond = err.respond
        self.request = request


class Codec:
    """Reads and builds SIP messages for the proxy's steps (see module docstring)."""

    def __init__(self, config: ProxyConfig, owner: int | None = None) -> None:
        """``owner``: this worker's index with --workers N: its branches and
        Record-Routes name it (:meth:`mark_owner`)."""
        self.config = config
        self.tag_prefix = os.urandom(16).hex()
        self._branch_prefix = "z9hG4bK" + os.urandom(4).hex() + "."
        self._branch_seq = itertools.count(1)
        self._rr_owner = ""  # ";kw=<worker>" with --workers N (mark_owner)
        if owner is not None:
            self.mark_owner(owner)
        self._secret = os.urandom(16)
        self.server_header = [("Server", config.server_header)] if config.server_signature else []

    # ------------------------------------------------------------------ parsing

    def parse(self, data: bytes | Any) -> Any:
        """bytes (or an already framed message) → Request/Response, or ParseFailure."""
        if not isinstance(data, bytes | bytearray):
            return data
        try:
            # Lazy: headers routing never touches are never parsed; a bad one that it does
            # touch raises ParseError later, which the engine answers with 400 the same way.
            return parse_message(data, eager=False)
        except ParseError as err:
            # the parser's own partial request (raw fields, enough to answer it)
            raise ParseFailure(err, err.request if err.respond else None) from None

    def sanity(self, req: Request) -> None:
        """The checks a proxy makes before forwarding (RFC 3261 §16.3; Kamailio's
        sanity_check): URI scheme (416), headers in the R-URI and ``Contact: *`` misuse
        (400), Proxy-Require (420 with Unsupported)."""
        try:
            check_request(req, role="proxy")
        except ParseError as err:
            raise ParseFailure(err) from None

    # ------------------------------------------------------------------ reading

    @staticmethod
    def max_forwards(req: Any) -> int | None:
        return req.max_forwards

    @staticmethod
    def ruri(req: Request) -> Any:
        return req.uri

    @staticmethod
    def call_id(msg: Any) -> str:
        return msg.call_id or ""

    @staticmethod
    def cseq_num(msg: Any) -> int:
        c = msg.cseq
        return c.num if c is not None else 0

    @staticmethod
    def from_tag(msg: Any) -> str | None:
        return msg.from_tag

    @staticmethod
    def to_tag(msg: Any) -> str | None:
        return msg.to_tag

    @staticmethod
    def from_uri(msg: Any) -> SipURI | None:
        f = msg.from_
        return f.uri if f is not None and isinstance(f.uri, SipURI) else None

    @staticmethod
    def to_uri(msg: Any) -> Any:
        t = msg.to
        return t.uri if t is not None else None

    @staticmethod
    def first_contact_uri(msg: Any) -> str | None:
        try:
            contacts = msg.contacts
        except ParseError:
            return None
        for c in contacts:
            if c.uri is not None:
                return str(c.uri)
        return None

    @staticmethod
    def top_via(msg: Any) -> Any:
        return msg.top_via

    @staticmethod
    def second_via(msg: Any) -> Any:
        vias = msg.vias
        return vias[1] if len(vias) > 1 else None

    @staticmethod
    def credentials(req: Request, proxy: bool) -> list[str]:
        return req.headers.get_lines("proxy-authorization" if proxy else "authorization")

    @staticmethod
    def remove_credentials(req: Request) -> None:
        req.headers.remove("proxy-authorization")

    @staticmethod
    def remove_routes(req: Request) -> None:
        if "route" in req.headers:
            req.headers.remove("route")

    @staticmethod
    def reply_address(req: Any, endpoint: Any, addr: tuple[str, int]) -> tuple[str, int]:
        """Where responses go: the connection's peer for TCP, else source IP and the Via
        port (the source port with rport, RFC 3581)."""
        if getattr(endpoint, "proto", "udp") != "udp":
            return addr
        try:
            via = req.top_via
        except ParseError:
            return addr  # a Via we cannot read: answer where the request came from
        if via is None or via.has_rport:
            return addr
        return addr[0], via.port or 5060

    def answers_itself(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> bool:
        """A reply to ``req`` would go to the UDP socket it came in on: its Via names our
        own port (a forged or looped request), and the reply would come back to us as a
        response, to be relayed on down its other Vias."""
        if getattr(endpoint, "proto", "udp") != "udp":
            return False
        lst = getattr(endpoint, "listen", None)
        host, port = self.reply_address(req, endpoint, addr)
        if lst is None or port != lst.port:
            return False
        return host == lst.host or host.lower() in self.config.local_names

    # ------------------------------------------------------------------ building

    def new_branch(self) -> str:
        """A fresh branch for a new client transaction."""
        return f"{self._branch_prefix}{next(self._branch_seq):x}"

    def mark_owner(self, index: int) -> None:
        """Worker ``index`` of several: its branches and Record-Routes name it, so replies
        and in-dialog requests that reach another worker are passed to it
        (:mod:`kamtool.proxy.workers.owner`)."""
        from kamtool.proxy.workers.owner import branch_prefix, rr_param

        self._branch_prefix = branch_prefix(index, os.urandom(4).hex())
        self._rr_owner = rr_param(index)

    def stateless_branch(self, req: Request) -> str:
        """Deterministic branch for stateless forwarding (retransmissions get the same).
        An RFC 2543 UA puts no branch in its Via: its Via as sent stands in for one."""
        via = req.top_via
        branch = (via.branch if via else None) or req.headers.get_bytes("via") or b""
        return make_branch(branch, req.call_id or "", self.cseq_num(req), secret=self._secret)

    def _to_tag(self, req: Request, stateless: bool) -> str:
        # raw bytes of the identifying headers: no parsing, same tag for a retransmission
        h = req.headers
        seed = b"|".join(
            (h.get_bytes("call-id") or b"", h.get_bytes("from") or b"", h.get_bytes("via") or b"")
        )
        sep = "." if stateless else "-"
        return f"{self.tag_prefix}{sep}{zlib.crc32(seed):08x}"

    def our_stateless_tag(self, tag: str | None) -> bool:
        """``tag`` is a To tag of a reply sent statelessly here (``sl_send_reply``)."""
        return bool(tag) and tag.startswith(self.tag_prefix + ".")  # type: ignore[union-attr]

    def reply_message(
        self,
        req: Request,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        stateless: bool = False,
    ) -> Response:
        """A response made by the proxy (sl_send_reply / t_reply)."""
        to_tag = None
        if status > 100:
            try:
                to_tag = None if req.to_tag else self._to_tag(req, stateless)
            except ParseError:
                to_tag = None
        try:
            return make_response(
                req, status, reason, to_tag=to_tag, headers=[*headers, *self.server_header]
            )
        except ParseError:
            return make_response(req, status, reason, headers=[*headers, *self.server_header])

    def local_reply(
        self,
        req: Request,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        stateless: bool = False,
    ) -> bytes:
        """:meth:`reply_message` as bytes."""
        return self.reply_message(req, status, reason, headers, stateless).to_bytes()

    def via_for(self, local: Listen | None, branch: str) -> Via:
        """Our Via (a parsed value: the transaction layer reads its branch without parsing)."""
        if local is None:
            transport, host, port = "UDP", "127.0.0.1", None
        else:
            transport, host = local.proto.upper(), local.host
            port = None if local.port == 5060 else local.port
        hp = format_host(host) if port is None else f"{format_host(host)}:{port}"
        raw = f"SIP/2.0/{transport} {hp};branch={branch}"  # written once, as Via would
        return Via(transport, host, port, {"branch": branch}, _raw=raw)

    def record_route(
        self, local: Listen, ftag: str | None, did: str | None, r2: bool = False
    ) -> str:
        """Our Record-Route entry for ``local``; ``r2``: one of a double route."""
        host = format_host(local.host)
        port = "" if local.port == 5060 else f":{local.port}"
        # RFC 7118 §5.2 has one URI transport for WebSocket, "ws", secure or not (Kamailio's
        # Record-Route of a wss: socket says transport=ws too)
        proto = "ws" if local.proto == "wss" else local.proto
        transport = "" if proto == "udp" else f";transport={proto}"
        cfg = self.config
        params = (
            (";r2=on" if r2 else "")
            + (";lr=on" if cfg.rr_enable_full_lr else ";lr")
            + (f";ftag={ftag}" if ftag and cfg.rr_append_fromtag else "")
            + (f";did={did}" if did else "")
            + self._rr_owner
        )
        return f"<sip:{host}{port}{transport}{params}>"

    def add_record_route(self, req: Request, endpoint: Any, did: str | None) -> None:
        req.prepend_record_route(self.record_route(endpoint.listen, req.from_tag, did))

    def mark_received(self, req: Request, addr: tuple[str, int]) -> None:
        """received=/rport= on the sender's Via (RFC 3261 §18.2.1, RFC 3581)."""
        via = req.top_via
        if via is None:
            return
        changes: dict[str, Any] = {}
        if via.host != addr[0]:
            changes["received"] = addr[0]
        if via.has_rport and via.rport is None:
            changes["rport"] = addr[1]
            changes.setdefault("received", addr[0])
        if changes:
            req.replace_top_via(via.with_params(**changes))

    def forward(
        self,
        req: Request,
        target: Target,
        branch: str,
        local: Listen | None,
        max_forwards: int,
        keep_uri: bool = False,
    ) -> Request:
        """The request as it leaves on one branch."""
        out = req.copy()
        if not keep_uri:
            out.uri = target.uri
        for route in reversed(target.path):
            out.prepend_route(route)
        out.prepend_via(self.via_for(local, branch))
        out.decrement_max_forwards(default=max_forwards + 1)
        return out

    def strip_via(self, resp: Response) -> bytes:
        """The response without our top Via, as bytes (for relaying upstream)."""
        resp.pop_via()
        return resp.to_bytes()

    def make_bye(self, dialog: Any, side: str, local: Listen | None, branch: str) -> Request:
        """A BYE from the proxy to ``side`` of ``dialog`` (lifetime end, dlg.end_dlg)."""
        if side == "callee":
            leg, other = dialog.callee, dialog.caller
            from_ = f"<{dialog.from_uri}>;tag={dialog.caller.tag}"
            to = f"<{dialog.to_uri}>;tag={dialog.callee.tag}"
        else:
            leg, other = dialog.caller, dialog.callee
            from_ = f"<{dialog.to_uri}>;tag={dialog.callee.tag}"
            to = f"<{dialog.from_uri}>;tag={dialog.caller.tag}"
        # sent as the other party's request: its CSeq follows that party's numbering (RFC
        # 3261 12.2.1.1; a number below the receiver's last one from it gets 500, 12.2.2)
        cseq = int(other.cseq or 0) + 1
        h = Headers()
        h.add("Via", self.via_for(local, branch))
        h.add("From", from_)
        h.add("To", to)
        h.add("Call-ID", dialog.call_id)
        h.add("CSeq", f"{cseq} BYE")
        if leg.route_set:
            for r in leg.route_set.split(","):
                h.add("Route", r.strip())
        h.add("Max-Forwards", "70")
        return Request("BYE", leg.contact, h)

    def make_probe(
        self, method: str, uri: str, from_uri: str, local: Listen | None, branch: str
    ) -> Request:
        """A keepalive request from the proxy (dispatcher probing), laid out as Kamailio's
        tm makes its own requests: To is the target URI, CSeq 10, a fresh From tag and
        Call-ID, ``Max-Forwards: 70``, no body (User-Agent only with ``server_signature``)."""
        host = local.host if local is not None else "127.0.0.1"
        h = Headers()
        h.add("Via", self.via_for(local, branch))
        h.add("To", f"<{uri}>")
        h.add("From", f"<{from_uri}>;tag={os.urandom(16).hex()}-{os.urandom(4).hex()}")
        h.add("CSeq", f"10 {method}")
        h.add("Call-ID", f"{os.urandom(8).hex()}-{os.getpid()}@{format_host(host)}")
        h.add("Max-Forwards", "70")
        h.add("Content-Length", "0")
        if self.config.server_signature:
            h.add("User-Agent", self.config.server_header)
        return Request(method, uri, h)

    # ------------------------------------------------------------------ targets

    def target_for_binding(self, b: Any, tcp_alive: Any = None) -> Target | None:
        """Branch target of a usrloc binding: contact as R-URI; next hop = Path, else
        received (NAT; for TCP only while that connection is still open: ``tcp_alive``),
        else the contact itself."""
        try:
            uri = parse_uri(b.contact)
        except ParseError:
            return None
        path: list[str] = []
        dest = None
        if b.path:
            try:
                routes = parse_name_addr_list(b.path, "Path")
            except ParseError:
                routes = []
            path = [str(r) for r in routes]
            if routes:
                dest = dest_of_uri(routes[0].uri)
        if dest is None and b.received:
            try:
                dest = dest_of_uri(parse_uri(b.received))
            except ParseError:
                dest = None
            gone = tcp_alive is not None and not tcp_alive((dest[1], dest[2])) if dest else False
            if dest is not None and dest[0] in ("tcp", "tls", "ws", "wss") and gone:
                dest = None  # the phone's connection is gone: try its contact address
        if dest is None:
            dest = dest_of_uri(uri)
        if dest is None:
            return None
        return Target(b.contact, dest, b.q_sort_key(), path, b)

    def loose_route(
        self, req: Request, is_myself: Any
    ) -> tuple[str | None, Target | None, Any] | None:
        """Kamailio's loose_route(): None when there is no Route; else (did of our
        Route or None, next-hop target or None when it cannot be reached, the URI of our
        second Route of a double Record-Route or None: the socket to send from)."""
        routes = req.routes
        if not routes:
            return None
        if req.to_tag and is_myself(req.uri):
            return self._after_strict(req, routes)
        did = second = None
        top = routes[0]
        if is_myself(top.uri):
            did = top.uri.params.get("did") if isinstance(top.uri, SipURI) else None
            req.pop_route()
            routes = req.routes
            # a double Record-Route (socket change, both entries with r2=on) leaves our
            # second entry on top: it names the socket facing the next hop (rr sets the
            # send socket from it). Without r2 a second Route of ours is another visit
            # (a spiral, §16.4): the request goes to us again, as Kamailio's is_2rr()
            r2 = isinstance(top.uri, SipURI) and "r2" in top.uri.params
            if r2 and routes and is_myself(routes[0].uri):
                second = routes[0].uri
                req.pop_route()
                routes = req.routes
        if routes:
            dest = dest_of_uri(routes[0].uri)
            target = Target(req.uri_text, dest) if dest is not None else None
        else:
            dest = dest_of_uri(req.uri)
            target = Target(req.uri_text, dest) if dest is not None else None
        return did, target, second

    @staticmethod
    def _after_strict(req: Request, routes: list) -> tuple[str | None, Target | None, None]:
        """loose_route() after a strict router (RFC 3261 §16.4, Kamailio's after_strict):
        our Record-Route URI is the Request-URI, the remote target the last Route. A
        strict next hop (or the endpoint) takes the top Route as Request-URI; a loose one
        is the next hop while the last Route goes back into the Request-URI."""
        uri = req.uri
        did = uri.params.get("did") if isinstance(uri, SipURI) else None
        top = routes[0]
        if isinstance(top.uri, SipURI) and "lr" in top.uri.params:
            req.headers.remove("Route")
            for route in reversed(routes[:-1]):
                req.prepend_route(route)
            req.uri = str(routes[-1].uri)
        else:
            req.pop_route()
            req.uri = str(top.uri)
        left = req.routes
        dest = dest_of_uri(left[0].uri if left else req.uri)
        return did, Target(req.uri_text, dest) if dest is not None else None, None


def socket_of_uri(uri: Any) -> str | None:
    """The socket a Record-Route URI of ours names (``udp:host:port``), or None."""
    host, port = getattr(uri, "host", None), getattr(uri, "port", None)
    if not host:
        return None
    proto = (getattr(uri, "transport", None) or "udp").lower()
    if getattr(uri, "secure", False) and proto in ("udp", "tcp"):
        proto = "tls"
    port = port or (5061 if proto == "tls" else 5060)
    return f"{proto}:{format_host(host)}:{port}"
