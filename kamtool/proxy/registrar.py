"""REGISTER handling (Kamailio's ``save("location")``), on a :class:`LocationStore`.

* AoR = the To user (``user@domain`` with use_domain);
* expires per contact: ``expires`` parameter, else the Expires header, else
  ``default_expires``; a malformed parameter gives ``default_expires``, not the header
  (RFC 3261 10.2.1.1: "treated as equivalent to 3600"; Kamailio's calc_contact_expires()
  alike), one above 2**32-1 is 2**32-1 (as 10.2.1.1 allows; Kamailio takes it for
  malformed, the same 3600 once max_expires caps it); above ``max_expires`` it is lowered, below
  ``min_expires`` (and not 0) it is raised to ``min_expires`` (Kamailio's
  ``min_expires_mode`` 0), or with ``min_expires_mode = 1`` the request gets ``423
  Interval Too Brief`` with ``Min-Expires``;
* ``Contact: *`` needs ``Expires: 0`` and no other contact (else 400) and removes all;
* no Contact: a query, answered with the current bindings;
* a binding is matched by ``+sip.instance``/``reg-id`` when given (RFC 5626), else by
  contact URI. The same Call-ID with a lower CSeq than stored fails the whole request
  (RFC 3261 10.3 step 7) with ``400 Invalid CSeq number``, nothing changed, as
  Kamailio's usrloc; an equal CSeq within :data:`CSEQ_DELAY` of the last change is a
  retransmission (of a REGISTER answered statelessly) and changes nothing, later it
  fails as well. A contact given twice in one request counts once (the first);
* a contact's ``methods`` parameter (RFC 3840) is its methods bitmask, else ``Allow``;
* ``+sip.instance`` is stored without its quotes and ``reg-id`` only with an instance, as
  Kamailio's usrloc; outbound (``outbound_mode``, ``regid_mode``, ``flow_timer``: the 421,
  420 and 439 refusals, ``Require: outbound``) is :mod:`kamtool.proxy.outbound`'s;
* Path (RFC 3327) is stored with ``use_path`` and echoed as ``path_mode`` says (420 in
  strict mode when the UA does not support it); no methods (NULL) means all;
* the 200 lists every current binding with its remaining expires (and q, instance, reg-id).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from kamtool.proxy import outbound
from kamtool.proxy.usrloc import METHOD_BITS, Binding, LocationStore
from kamtool.sip.errors import ParseError
from kamtool.sip.nat import received_uri
from kamtool.sip.params import unquote

log = logging.getLogger(__name__)

Reply = tuple[int, str, list[tuple[str, str]]]

# seconds after a change in which the same Call-ID and CSeq again is a retransmission
# (usrloc's cseq_delay); later it is an out-of-order request
CSEQ_DELAY = 20
MAX_DELTA = 2**32 - 1  # RFC 3261 10.2.1.1: larger values MAY be taken as 2**32-1


def _contact_expires(c: Any, header_expires: int | None, default: int) -> int:
    """The expires a contact asks for, before min/max: its parameter, else the header,
    else ``default``; a parameter with a value that is no delta-seconds gives ``default``
    (RFC 3261 10.2.1.1), one without a value counts as absent (Kamailio alike)."""
    raw = c.params.get("expires")
    if raw:
        raw = unquote(raw)
        return min(int(raw), MAX_DELTA) if raw.isdigit() else default
    return header_expires if header_expires is not None else default


def _methods_mask(allow: list[str] | None) -> int | None:
    if not allow:
        return None
    mask = 0
    for m in allow:
        mask |= METHOD_BITS.get(m.strip().upper(), 0)
    return mask or None


def _same(instance: str, other: str) -> bool:
    """Two ``+sip.instance`` values name the same UA (angle brackets aside, and the quotes
    older kamtool versions stored)."""
    return instance.strip('"<>') == other.strip('"<>')


class Registrar:
    """``save()`` for REGISTER requests (see module docstring)."""

    def __init__(self, config: Any, usrloc: LocationStore, stats: Any) -> None:
        self.config = config
        self.usrloc = usrloc
        self.accepted = stats.counter("registrar", "accepted_regs")
        self.rejected = stats.counter("registrar", "rejected_regs")

    def save(
        self, req: Any, endpoint: Any, addr: tuple[str, int], nat: tuple[str, int] | None = None
    ) -> Reply:
        """Apply a REGISTER; returns (status, reason, extra headers) for the reply.

        ``nat``: (received URI, cflags) of a REGISTER from behind a NAT
        (:meth:`kamtool.proxy.nat.NatHelper.registration`)."""
        try:
            reply = self._save(req, endpoint, addr, nat)
        except ParseError as exc:
            reply = (400, exc.reason, [])
        except Exception:
            log.exception("registrar: saving failed (database down?)")
            reply = (500, "Server Internal Error", [])
        if reply[0] == 200:
            self.accepted.value += 1
        else:
            self.rejected.value += 1
        return reply

    def _save(
        self, req: Any, endpoint: Any, addr: tuple[str, int], nat: tuple[str, int] | None
    ) -> Reply:
        cfg = self.config
        to = req.to
        uri = to.uri if to is not None else None
        user = getattr(uri, "user", None)
        if not user:
            return 400, "Bad To header (no user)", []
        aor = self.usrloc.aor_key(user, getattr(uri, "host", None))
        tags = outbound.tags_of(req)  # Supported/Require, read once
        refused, use_regid = outbound.register_check(req, cfg, tags)
        if refused is not None:
            return refused
        use_path = cfg.use_path and "path" in req.headers
        path = (", ".join(req.headers.get_all("path")) or None) if use_path else None
        refused = outbound.path_check(tags, cfg, path)
        if refused is not None:
            return refused
        contacts = req.contacts
        header_expires = req.expires
        now = self.usrloc.clock()
        if any(c.is_star for c in contacts):
            if len(contacts) != 1 or header_expires != 0:
                return 400, "Invalid Contact: * (needs Expires: 0 and no other contact)", []
            self.usrloc.remove(aor)
            return 200, "OK", outbound.reply_headers(tags, cfg, path)
        changes: list[tuple[Binding | None, Binding | None]] = []
        existing = self.usrloc.contacts_of(aor)
        current = list(existing)  # the AoR as the contacts so far leave it
        made: set[int] = set()  # ids of the bindings this request makes
        callid = req.call_id or ""
        cseq = req.cseq.num if req.cseq else 0
        path_rcv = outbound.path_received(path) if cfg.path_use_received else None
        # one string per distinct User-Agent, not per contact (100k phones, a few models)
        ua = sys.intern(req.headers.get("user-agent") or "")
        allow = _methods_mask(req.headers.get_all("allow")) if "allow" in req.headers else None
        socket = endpoint.listen.socket_str
        udp = endpoint.proto == "udp"
        connection_id = -1 if udp else id(endpoint) & 0x7FFFFFFF
        domain = getattr(uri, "host", None) if self.usrloc.use_domain else None
        for c in contacts:
            expires = _contact_expires(c, header_expires, cfg.default_expires)
            if expires and expires < cfg.min_expires:
                if cfg.min_expires_mode:
                    return 423, "Interval Too Brief", [("Min-Expires", str(cfg.min_expires))]
                expires = cfg.min_expires
            if cfg.max_expires and expires > cfg.max_expires:
                expires = cfg.max_expires
            contact = str(c.uri)
            instance = outbound.unquote_instance(c.params.get("+sip.instance"))
            reg_id = c.params.get("reg-id") if instance and use_regid else None
            if reg_id is not None and (not reg_id.isdigit() or int(reg_id) == 0):
                return 400, "Invalid Reg-Id number", []  # Kamailio's R_INV_REGID
            reg_id_n = int(reg_id) if reg_id else 0
            old = None
            for b in current:  # as usrloc: by instance and reg-id when given, else URI
                if instance:
                    if b.instance and b.reg_id == reg_id_n and _same(b.instance, instance):
                        old = b
                        break
                elif b.contact == contact:
                    old = b
                    break
            if old is not None and id(old) in made:
                continue  # the same contact again in this request: the first counts
            if old is not None and old.callid == callid and cseq <= old.cseq:
                if cseq == old.cseq and now < old.last_modified + CSEQ_DELAY:
                    continue  # a retransmission: answered with the bindings as they are
                return 400, "Invalid CSeq number", []
            if not expires:
                if old is not None:
                    changes.append((old, None))
                    current.remove(old)
                continue
            if old is not None and instance and old.callid != callid:
                # a new Call-ID from the same instance: the UA restarted, so its other
                # registrations are stale (Kamailio's save() drops them as well)
                stale = [b for b in current if b is not old and b.instance
                         and _same(b.instance, instance)]  # fmt: skip
                changes += [(b, None) for b in stale]
                current = [b for b in current if all(b is not x for x in stale)]
            methods = allow
            if c.params.get("methods"):  # RFC 3840's feature tag wins over Allow
                methods = _methods_mask(unquote(c.params["methods"]).split(","))
            q = c.q if c.q is not None else -1.0
            # where the UA is reached: the edge's received= (path_use_received), the NAT
            # address, else (no Path: the flow is ours) the connection's peer
            received = path_rcv or (nat[0] if nat else None)
            if received is None and not path and not udp:
                received = self._received(c.uri, endpoint, addr)
            # a refresh is a new binding with the old one's ruid and flags (the store
            # never changes a binding in place; save() sets state and last_modified)
            new = Binding(
                aor=aor,
                contact=contact,
                expires=now + expires,
                q=q,
                callid=callid,
                cseq=cseq,
                user_agent=ua,
                received=received,
                path=path,
                socket=socket,
                methods=methods,
                instance=instance,
                reg_id=reg_id_n,
                flags=old.flags if old is not None else 0,
                # path_use_received: the contact is NATed (usrloc's nat_bflag), as Kamailio
                cflags=(nat[1] if nat else 0) | ((1 << cfg.nat_bflag) if path_rcv else 0),
                ruid=old.ruid if old is not None else "",
                connection_id=connection_id,
                # usrloc: a contact with the nat_bflag is kept alive (location.keepalive)
                keepalive=1 if nat and nat[1] & (1 << cfg.nat_bflag) else 0,
                domain=domain,
            )
            changes.append((old, new))
            current = [b for b in current if b is not old] + [new]
            made.add(id(new))
        if cfg.max_contacts and sum(not b.expired(now) for b in current) > cfg.max_contacts:
            return 403, "Too many registered contacts", []
        for old, new in changes:
            if new is None:
                if old is not None:
                    self.usrloc.remove_binding(old)
            else:
                self.usrloc.save(new)
        headers = [("Contact", self._contact_value(b, now)) for b in self.usrloc.lookup(aor)]
        return 200, "OK", headers + outbound.reply_headers(tags, cfg, path)

    @staticmethod
    def _received(uri: Any, endpoint: Any, addr: tuple[str, int]) -> str | None:
        """For a contact registered over TCP from another address than the contact's own
        (the usual case: phones do not listen on TCP), where to reach it: the peer of
        the connection, which the transport reuses while it is open."""
        if endpoint.proto not in ("tcp", "tls", "ws", "wss"):
            return None
        host, port = getattr(uri, "host", None), getattr(uri, "port", None) or 5060
        if (host, port) == (addr[0], addr[1]):
            return None
        return received_uri(endpoint.proto, addr[0], addr[1])

    @staticmethod
    def _contact_value(b: Binding, now: float) -> str:
        left = max(int(b.expires - now + 0.5), 0) if b.expires else 0
        value = f"<{b.contact}>"
        if b.q >= 0:
            value += f";q={b.q:g}"
        value += f";expires={left}"
        if b.instance:
            value += f';+sip.instance="{b.instance}"'
        if b.reg_id:
            value += f";reg-id={b.reg_id}"
        if b.received:  # registrar's received_param: where we will reach the UA
            value += f';received="{b.received}"'
        return value
