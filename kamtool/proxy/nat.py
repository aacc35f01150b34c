"""NAT traversal: what Kamailio's stock ``kamailio.cfg`` does ``WITH_NAT`` (nathelper).

* **detection** (route[NATDETECT]): ``nat_uac_test`` with the configured flags; 3 by
  default: a private Contact, or a Via host that is not the source address. The stock
  cfg's 19 adds 16 (Via port not the source port), which also fires for UAs that are not
  behind a NAT but send from one port and listen on another (asymmetric signaling:
  sipsak, some SBCs); their registrations would then point at the sending port and calls
  would never reach them. Behind a real NAT the Via names the private address, so 2
  catches it; ``nat_uac_test = 19`` restores Kamailio's exact test. On TCP and TLS the
  default route adds 16 all the same for requests other than REGISTER: there the source
  port is the connection's, never the Contact's, and a softphone's Contact is rarely
  reachable (NAT, or it does not listen), so in-dialog requests towards it must go back
  over its connection (a REGISTER's binding records that peer in the registrar);
* **rport**: a NATed request gets ``rport`` on its Via (RFC 3581, force_rport), so its
  responses go back to the source port, the one the NAT opened;
* **REGISTER** (fix_nated_register): the binding's ``received`` is the source address
  (``sip:IP:port``, ``;transport=`` for TCP/TLS); lookup sends there, and over a
  connection-oriented transport that is the connection the phone registered on. The
  binding gets usrloc's NAT branch flag (cflags bit 6, as ``FLB_NATB`` in the stock cfg)
  and bit 7 (``FLB_NATSIPPING``) when keepalives are on;
* **other requests and replies**: the first-hop Contact gets an ``;alias=ip~port~proto``
  parameter (set_contact_alias) and in-dialog requests whose R-URI carries one are sent
  to that address with the parameter removed (handle_ruri_alias).

Why alias and not fix_nated_contact: rewriting the Contact host replaces the UA's own
address with one it does not know, so a strict UA may not recognise requests sent to it,
and the transport of the original Contact is lost. The alias keeps the UA's URI intact
(the UA gets back exactly what it sent), carries the transport, so TCP/TLS in-dialog
requests reuse the connection, and works for any number of NATed hops on either side.
It needs the in-dialog requests to come through us, which our Record-Route guarantees.

* **keepalive** (nathelper's SIP pinging): every ``natping_interval`` seconds an OPTIONS
  goes to each NATed UDP contact at its received address (TCP/TLS connections are kept
  by the phone's own CRLF keepalives, RFC 5626); its replies are absorbed here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from kamtool.sip.errors import ParseError
from kamtool.sip.headers import NameAddr
from kamtool.sip.message import Headers, Request
from kamtool.sip.nat import make_alias, nat_uac_test, parse_alias, received_uri
from kamtool.sip.uri import SipURI

log = logging.getLogger(__name__)

NATB = 1 << 6  # usrloc nat_bflag (FLB_NATB 6 in kamailio.cfg)
PING_SLICE = 500  # keepalives sent per loop iteration
NATSIPPING = 1 << 7  # nathelper sipping_bflag (FLB_NATSIPPING 7)
ALIAS_METHODS = frozenset({"INVITE", "SUBSCRIBE", "UPDATE", "NOTIFY", "REFER"})

Dest = tuple[str, str, int]
OnResponse = Callable[[Any, Any, Any], None]


class NatHelper:
    """The proxy's NAT module (see module docstring); inert when ``config.nat`` is off."""

    def __init__(self, config: Any, codec: Any, stats: Any) -> None:
        self.enabled = bool(config.nat)
        self.flags = config.nat_uac_test
        self.interval = config.natping_interval
        self.sipping_from = config.sipping_from
        self.codec = codec
        self._callid_prefix = f"natping-{os.urandom(4).hex()}-"
        self._seq = 0
        self._timer: Any = None
        # a location shared by several hosts (Redis, db_mode 3): which socket strings are
        # this host's listeners; a binding registered through another host is that host's
        # to ping (its NAT pinhole leads there), as Kamailio's filter_server_id does
        self.ours: Callable[[str], Any] | None = None
        self.pings_sent = stats.counter("nathelper", "pings_sent")
        self.pings_answered = stats.counter("nathelper", "pings_answered")

    # ------------------------------------------------------------------ requests

    def detect(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> bool:
        """route[NATDETECT]: nat_uac_test; when positive, force rport on the Via."""
        if not self.enabled:
            return False
        via = req.top_via
        if via is None:
            return False
        nated = nat_uac_test(
            self.flags,
            source=addr,
            via_host=via.host,
            via_port=via.port,
            contacts=contact_hostports(req),
        )
        if nated and via.rport is None:
            # force_rport: filled in here as the transport would (RFC 3581 §4), so the
            # replies we send and the Via we forward both say where it came from
            req.replace_top_via(via.with_params(received=addr[0], rport=addr[1]))
        return nated

    def registration(self, endpoint: Any, addr: tuple[str, int]) -> tuple[str, int]:
        """fix_nated_register: (received URI, cflags) for the bindings of a NATed REGISTER."""
        flags = NATB | (NATSIPPING if self.interval > 0 else 0)
        return received_uri(endpoint.proto, addr[0], addr[1]), flags

    def alias_request(self, req: Any, endpoint: Any, addr: tuple[str, int]) -> None:
        """set_contact_alias on a NATed non-REGISTER request that comes straight from
        the UA (one Via: no proxy in between whose address the alias would be)."""
        if req.method != "REGISTER" and len(req.vias) == 1:
            alias_contact(req, endpoint.proto, addr)

    def handle_ruri_alias(self, req: Any) -> Dest | None:
        """handle_ruri_alias: the R-URI's alias as the next hop, the parameter removed.
        None without one; ParseError (→ 400) when it is malformed."""
        if not self.enabled:
            return None
        uri = req.uri
        if not isinstance(uri, SipURI) or "alias" not in uri.params:
            return None
        dest = parse_alias(uri.params["alias"])
        req.uri = uri.without_params("alias")
        return dest

    # ------------------------------------------------------------------ replies

    def reply_hook(self, inner: OnResponse | None, nated_target: bool) -> OnResponse | None:
        """Wrap a transaction's ``on_response`` so that replies of a NATed callee get
        the alias of the address we reached it at (set_contact_alias in onreply_route).

        ``nated_target``: every branch is NATed (in-dialog request routed by an alias);
        otherwise a branch is when its usrloc binding carries the NAT flag."""
        if not self.enabled:
            return inner

        def on_response(stx: Any, ctx: Any, resp: Any) -> None:
            if inner is not None:
                inner(stx, ctx, resp)  # the dialog keeps the contact as the UA sent it
            binding = ctx.target.binding
            nated = nated_target or (binding is not None and binding.cflags & NATB)
            # first hop: our Via and the caller's only (the callee added none of its own
            # beyond those two means no proxy between it and us)
            if nated and resp.cseq.method in ALIAS_METHODS and len(resp.vias) == 2:
                proto, host, port = ctx.target.dest
                alias_contact(resp, proto, (host, port))

        return on_response

    # ------------------------------------------------------------------ keepalive

    def start_pinging(self, timers: Any, usrloc: Any, send: Callable[[Dest, bytes], None],
                      local: Callable[[str], Any]) -> None:  # fmt: skip
        """Start the OPTIONS keepalive timer (no-op when NAT or pinging is off)."""
        if not self.enabled or self.interval <= 0:
            return

        def tick() -> None:
            try:
                some(usrloc.flagged(), 0)
            except Exception:
                log.exception("nathelper: keepalive round failed (database down?)")
            self._timer = timers.call_later(self.interval, tick)

        def some(bindings: list[Any], start: int) -> None:
            # a round in slices, each in its own loop iteration: 100k NATed phones
            # would otherwise hold the loop for seconds
            end = start + PING_SLICE
            self.ping(bindings[start:end], send, local)
            if end < len(bindings):
                timers.call_later(0.001, some, bindings, end)

        self._timer = timers.call_later(self.interval, tick)

    def ping_all(self, usrloc: Any, send: Callable[[Dest, bytes], None],
                 local: Callable[[str], Any]) -> int:  # fmt: skip
        """One keepalive round at once: OPTIONS to every NATed UDP binding. Returns
        pings sent."""
        return self.ping(usrloc.flagged(), send, local)

    def ping(self, bindings: list[Any], send: Callable[[Dest, bytes], None],
             local: Callable[[str], Any]) -> int:  # fmt: skip
        """OPTIONS to those of ``bindings`` that are NATed and on UDP; pings sent."""
        n = 0
        ours = self.ours
        mine: dict[str, bool] = {}  # socket string -> one of our listeners
        for b in bindings:
            if not b.cflags & NATB:
                continue
            if ours is not None and b.socket:
                here = mine.get(b.socket)
                if here is None:
                    here = mine[b.socket] = ours(b.socket) is not None
                if not here:
                    continue
            target = self.codec.target_for_binding(b)
            if target is None or target.dest[0] != "udp":
                continue
            # from the socket the contact registered on (its NAT binding is there)
            ping = self.ping_request(b.contact, local(target.dest, b.socket))
            send(target.dest, ping.to_bytes())
            n += 1
        self.pings_sent.value += n
        return n

    def ping_request(self, contact: str, local: Any) -> Request:
        """The keepalive OPTIONS (nathelper's sipping: From sipping_from, To the contact)."""
        self._seq += 1
        h = Headers()
        h.add("Via", self.codec.via_for(local, self.codec.new_branch()))
        h.add("From", f"<{self.sipping_from}>;tag={os.urandom(4).hex()}")
        h.add("To", f"<{contact}>")
        h.add("Call-ID", f"{self._callid_prefix}{self._seq}")
        h.add("CSeq", "1 OPTIONS")
        h.add("Max-Forwards", "70")
        h.add("Content-Length", "0")
        return Request("OPTIONS", contact, h)

    def absorb_reply(self, resp: Any) -> bool:
        """True (and counted) for a reply to one of our keepalives: nothing to relay."""
        call_id = resp.call_id or ""
        if not call_id.startswith(self._callid_prefix):
            return False
        self.pings_answered.value += 1
        return True


def contact_hostports(msg: Any) -> list[tuple[str, int | None]]:
    try:
        contacts = msg.contacts
    except ParseError:
        return []
    return [(c.uri.host, c.uri.port) for c in contacts if isinstance(c.uri, SipURI)]


def alias_contact(msg: Any, proto: str, addr: tuple[str, int]) -> bool:
    """Add ``;alias=ip~port~proto`` to the first Contact URI of ``msg`` unless it already
    names that address and transport (add_contact_alias). An existing alias is replaced
    (a UA must not make us route to an address it chose). True when changed."""
    try:
        contacts = msg.contacts
    except ParseError:
        return False
    if not contacts or not isinstance(contacts[0].uri, SipURI):
        return False
    c = contacts[0]
    uri = c.uri
    uri_proto = uri.transport or ("tls" if uri.secure else "udp")
    if (uri.host, uri.port or 5060, uri_proto) == (addr[0], addr[1], proto):
        return False
    new_uri = uri.with_params(alias=make_alias(proto, addr[0], addr[1]))
    msg.headers.replace_first_value("contact", NameAddr(new_uri, c.display_name, dict(c.params)))
    return True
