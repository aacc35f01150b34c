"""How a relayed request looks on each branch (tm's ``build``): Request-URI, our Via,
Path routes, Max-Forwards, from the right socket; a second Record-Route of ours when it
leaves on another socket than it came in on (Kamailio's ``enable_double_rr``)."""

from __future__ import annotations

from typing import Any

from kamtool.sip.errors import ParseError


class BranchBuilder:
    """Builds the outgoing request of one branch of a server transaction."""

    def __init__(self, codec: Any, wire: Any, myself: Any, max_forwards: int) -> None:
        self.codec = codec
        self.wire = wire
        self.myself = myself
        self.max_forwards = max_forwards

    def initial(self, stx: Any, target: Any, branch: str) -> Any:
        """An initial request: to ``target``'s URI, from the contact's registered socket,
        else the one that reaches it."""
        local = self.wire.local_socket(target.dest, getattr(target.binding, "socket", None))
        out = self.codec.forward(stx.request, target, branch, local, self.max_forwards)
        inbound = stx.endpoint.listen if stx.endpoint is not None else None
        if local is not None and local != inbound and self._record_routed(out):
            # enable_double_rr: leaving on another socket (UDP in, TLS out, another address
            # or IPv4 in, IPv6 out ...) the callee must reach us on the outbound one and
            # the caller on the inbound one, so a second entry of ours goes on top;
            # loose_route() consumes both. Both entries carry r2=on, as Kamailio's rr
            # module marks a double route.
            did = getattr(stx.ctx, "did", None)
            r2 = self.codec.record_route
            out.headers.replace_first_value("record-route", r2(inbound, out.from_tag, did, r2=True))
            out.prepend_record_route(r2(local, out.from_tag, did, r2=True))
        return out

    def in_dialog(self, stx: Any, target: Any, branch: str) -> Any:
        """A request inside a dialog: the Request-URI stays (loose routing)."""
        local = self.wire.local_socket(target.dest)
        return self.codec.forward(
            stx.request, target, branch, local, self.max_forwards, keep_uri=True
        )

    def stateless(self, req: Any, target: Any) -> bytes:
        """An ACK of a 2xx, forwarded statelessly (its branch from the request's)."""
        local = self.wire.local_socket(target.dest)
        branch = self.codec.stateless_branch(req)
        out = self.codec.forward(req, target, branch, local, self.max_forwards, keep_uri=True)
        return out.to_bytes()

    def _record_routed(self, req: Any) -> bool:
        """True when the top Record-Route is ours (we record-routed this request)."""
        try:
            rrs = req.record_routes
        except ParseError:
            return False
        return bool(rrs) and self.myself.is_myself(rrs[0].uri)
