"""Topology stripping with Kamailio's ``topos`` semantics, sans-IO.

Where topoh (:mod:`kamtool.sip.topoh`) masks the addresses of one side in what the other
receives, topos takes them out and keeps them on the proxy, as a B2BUA-like edge would:

- **Via**: a request leaves with the proxy's own Via only; the Vias below it are kept
  with the branch of that Via (and the CSeq method: a CANCEL shares its INVITE's
  branch) and put back under it when a reply comes, before the proxy's transaction
  layer routes the reply on.
- **Record-Route**: removed from every request and reply of a dialog the proxy keeps;
  the proxy's own entries (``s_rr``), the caller side's (``a_rr``, from the initial
  request) and the callee side's (``b_rr``, from its reply) are kept.
- **Contact**: the caller's becomes ``sip:atpsh-<a_uuid>@<proxy>`` towards the callee,
  the callee's ``sip:btpsh-<b_uuid>@<proxy>`` towards the caller (Kamailio's prefixes),
  so each side sends its in-dialog requests to the proxy. When one comes back, its
  Request-URI becomes the other side's Contact again and its Route set the proxy's
  entries followed by that side's, so the proxy's loose routing runs as without topos.

Call-ID, From and To are left alone (topos does too; uac_replace_from/to change those).
Storage is in memory (Kamailio's ``topos`` with ``storage`` "db" writes the same records
to ``topos_d``/``topos_t``): bounded, with Kamailio's expiries (``dialog_expire`` 10800 s
refreshed by the dialog's requests, ``branch_expire`` 180 s), a dialog whose BYE was
answered kept 32 s more for retransmissions; :meth:`TopoStrip.purge` drops what expired.

A proxy calls :meth:`TopoStrip.received` on every message it parses and
:meth:`TopoStrip.sent` on every message it sends, with ``now`` from its clock and, for
received ones, the socket they came in on (the Contact host of replies to that side).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .headers import NameAddr, parse_name_addr_list
from .message import Message, Request
from .uri import SipURI, parse_uri

__all__ = ["Socket", "TopoStrip", "TpsDialog"]

OwnUri = Callable[[SipURI], bool]
Socket = tuple[str, int, str]  # host, port, transport (lower case) of one of our sockets

A_PREFIX, B_PREFIX = "atpsh-", "btpsh-"
DIALOG_EXPIRE = 10800.0  # Kamailio topos' dialog_expire
BRANCH_EXPIRE = 180.0  # Kamailio topos' branch_expire
ENDED_LINGER = 32.0  # a BYE's retransmissions (64*T1) still find the dialog
DIALOG_METHODS = ("INVITE", "SUBSCRIBE", "REFER")


@dataclass
class TpsDialog:
    """What the proxy keeps of one dialog: each side's Contact and Record-Route entries,
    the socket facing each side, and the two keys in the Contacts it gave out."""

    call_id: str
    a_tag: str
    a_uuid: str = field(default_factory=lambda: secrets.token_hex(8))
    b_uuid: str = field(default_factory=lambda: secrets.token_hex(8))
    b_tag: str = ""
    a_contact: str = ""
    b_contact: str = ""
    s_rr: list[str] = field(default_factory=list)  # the proxy's own entries
    a_rr: list[str] = field(default_factory=list)  # caller's side, request order
    b_rr: list[str] = field(default_factory=list)  # callee's side, reply order
    a_sock: Socket | None = None
    b_sock: Socket | None = None
    expires: float = 0.0
    confirmed: bool = False  # the initial INVITE was answered 2xx
    ended: bool = False  # a BYE answered 2xx, or the INVITE failed: kept for retransmissions

    def touch(self, now: float) -> None:
        if not self.ended:
            self.expires = now + DIALOG_EXPIRE


@dataclass
class _Branch:
    vias: list[str]
    expires: float


def _contact_uri(prefix: str, uuid: str, sock: Socket) -> str:
    host, port, proto = sock
    host = f"[{host}]" if ":" in host else host
    transport = "" if proto in ("udp", "") else f";transport={proto}"
    return f"sip:{prefix}{uuid}@{host}:{port}{transport}"


def _addrs(msg: Message, name: str) -> list[NameAddr]:
    return [a for v in msg.headers.get_lines(name) for a in parse_name_addr_list(v, name)]


class TopoStrip:
    """The records and the two hooks (see the module docstring). ``own`` tells the
    proxy's own URIs (its Record-Route entries, and the Contacts it gave out)."""

    def __init__(self, own: OwnUri, *, max_dialogs: int = 100_000,
                 max_branches: int = 65_536) -> None:  # fmt: skip
        self.own = own
        self.max_dialogs = max_dialogs
        self.max_branches = max_branches
        self.by_key: OrderedDict[tuple[str, str], TpsDialog] = OrderedDict()  # call-id, a tag
        self.by_uuid: dict[str, TpsDialog] = {}
        self.branches: OrderedDict[tuple[str, str], _Branch] = OrderedDict()
        self._arrived: OrderedDict[tuple[str, str], Socket] = OrderedDict()  # before a dialog
        # storage beyond memory (Kamailio's topos_d): told of each dialog created or
        # answered, and of each that ended; :meth:`load` puts one back
        self.on_save: Callable[[TpsDialog], None] | None = None
        self.on_drop: Callable[[TpsDialog], None] | None = None

    # ------------------------------------------------------------------ records

    def _dialog_of(self, msg: Message) -> tuple[TpsDialog | None, bool]:
        """The dialog ``msg`` belongs to and whether it goes from the caller's side
        (its From tag is the caller's)."""
        cid = msg.call_id or ""
        dlg = self.by_key.get((cid, msg.from_tag or ""))
        if dlg is not None:
            return dlg, True
        to_tag = msg.to_tag
        if to_tag:
            dlg = self.by_key.get((cid, to_tag))
            if dlg is not None:
                return dlg, False
        return None, True

    def _new_dialog(self, req: Request, sock: Socket, now: float) -> TpsDialog:
        key = (req.call_id or "", req.from_tag or "")
        dlg = TpsDialog(call_id=key[0], a_tag=key[1])
        contacts = req.contacts
        if contacts and contacts[0].uri is not None:
            dlg.a_contact = str(contacts[0].uri)
        for rr in req.record_routes:
            mine = isinstance(rr.uri, SipURI) and self.own(rr.uri)
            (dlg.s_rr if mine else dlg.a_rr).append(str(rr))
        dlg.a_sock = self._arrived.pop(key, None)
        dlg.b_sock = sock
        dlg.expires = now + DIALOG_EXPIRE
        while len(self.by_key) >= self.max_dialogs:  # bounded: the oldest goes
            self._forget(next(iter(self.by_key.values())))
        self.by_key[key] = dlg
        self.by_uuid[dlg.a_uuid] = self.by_uuid[dlg.b_uuid] = dlg
        self._save(dlg)
        return dlg

    def load(self, dlg: TpsDialog) -> None:
        """Take a dialog back from storage (a restart, another instance)."""
        if dlg.a_uuid in self.by_uuid:
            return
        while len(self.by_key) >= self.max_dialogs:
            self._forget(next(iter(self.by_key.values())))
        self.by_key[(dlg.call_id, dlg.a_tag)] = dlg
        self.by_uuid[dlg.a_uuid] = self.by_uuid[dlg.b_uuid] = dlg

    def missing(self, msg: Message) -> str | None:
        """The key of the dialog an in-dialog request names in its Request-URI when that
        dialog is not in memory (storage may have it), else None."""
        uri = getattr(msg, "uri", None)
        user = uri.user if isinstance(uri, SipURI) else None
        if not user or user[:6] not in (A_PREFIX, B_PREFIX) or not self.own(uri):
            return None
        return None if user[6:] in self.by_uuid else user[6:]

    def _save(self, dlg: TpsDialog) -> None:
        if self.on_save is not None:
            self.on_save(dlg)

    def _forget(self, dlg: TpsDialog) -> None:
        self.by_key.pop((dlg.call_id, dlg.a_tag), None)
        self.by_uuid.pop(dlg.a_uuid, None)
        self.by_uuid.pop(dlg.b_uuid, None)

    def purge(self, now: float) -> int:
        """Drop expired dialogs and branches; how many records went."""
        gone = [d for d in self.by_key.values() if d.expires <= now]
        for dlg in gone:
            self._forget(dlg)
        old = [k for k, b in self.branches.items() if b.expires <= now]
        for k in old:
            del self.branches[k]
        return len(gone) + len(old)

    # ------------------------------------------------------------------ hooks

    def received(self, msg: Message, sock: Socket, now: float) -> None:
        """A message the proxy just received on ``sock``."""
        if isinstance(msg, Request):
            self._request_in(msg, sock, now)
            return
        top = msg.top_via
        cseq = msg.cseq
        if top is None or cseq is None:
            return
        branch = self.branches.get((top.branch or "", cseq.method))
        if branch is not None and branch.vias:
            msg.headers.set("Via", ", ".join([msg.headers.get_all("Via")[0], *branch.vias]))
        status = getattr(msg, "status", 0)
        if cseq.method not in DIALOG_METHODS or not 100 < status < 300 or not msg.to_tag:
            return
        dlg, from_a = self._dialog_of(msg)
        if dlg is None or not from_a:
            return
        answered = status >= 200 and not dlg.confirmed  # its first 2xx (not a retransmission)
        if not dlg.b_tag or answered:  # the first early dialog, or the answer
            dlg.confirmed = dlg.confirmed or status >= 200
            dlg.b_tag = msg.to_tag
            contacts = msg.contacts
            if contacts and contacts[0].uri is not None:
                dlg.b_contact = str(contacts[0].uri)
            dlg.b_rr = [str(rr) for rr in msg.record_routes]
            if answered:
                self._save(dlg)
        dlg.b_sock = dlg.b_sock or sock

    def _request_in(self, req: Request, sock: Socket, now: float) -> None:
        uri = req.uri
        user = uri.user if isinstance(uri, SipURI) else None
        if user and user[:6] in (A_PREFIX, B_PREFIX) and self.own(uri):
            dlg = self.by_uuid.get(user[6:])
            if dlg is None:
                return  # gone: the proxy answers for itself (404)
            dlg.touch(now)
            if user.startswith(B_PREFIX):  # from the caller's side, towards the callee
                target, routes = dlg.b_contact, [*dlg.s_rr, *reversed(dlg.b_rr)]
                dlg.a_sock = sock
            else:
                target, routes = dlg.a_contact, [*dlg.s_rr, *dlg.a_rr]
                dlg.b_sock = sock
            if target:
                req.uri = parse_uri(target)
            req.headers.remove("Route")
            for route in reversed(routes):
                req.prepend_route(route)
            return
        if not req.to_tag and req.method in DIALOG_METHODS:
            key = (req.call_id or "", req.from_tag or "")
            self._arrived[key] = sock
            self._arrived.move_to_end(key)
            while len(self._arrived) > self.max_branches:
                self._arrived.popitem(last=False)

    def sent(self, msg: Message, now: float) -> None:
        """A message about to leave the proxy."""
        if isinstance(msg, Request):
            self._request_out(msg, now)
            return
        dlg, from_a = self._dialog_of(msg)
        if dlg is None:
            return
        msg.headers.remove("Record-Route")
        if from_a:  # a reply to the caller's side: the callee is the proxy
            sock, prefix, uuid = dlg.a_sock or dlg.b_sock, B_PREFIX, dlg.b_uuid
        else:
            sock, prefix, uuid = dlg.b_sock or dlg.a_sock, A_PREFIX, dlg.a_uuid
        if sock is not None:
            self._set_contact(msg, _contact_uri(prefix, uuid, sock))
        cseq = msg.cseq
        status = getattr(msg, "status", 0)
        if cseq is not None and (
            (cseq.method == "BYE" and 200 <= status < 300)
            or (cseq.method == "INVITE" and status >= 300 and not dlg.confirmed)
        ):  # the dialog is over (or never was): its records go once retransmissions are
            if not dlg.ended and self.on_drop is not None:
                self.on_drop(dlg)
            dlg.ended, dlg.expires = True, min(dlg.expires, now + ENDED_LINGER)

    def _request_out(self, req: Request, now: float) -> None:
        vias = req.headers.get_all("Via")
        top = req.top_via
        cseq = req.cseq
        if top is None or cseq is None:
            return
        if len(vias) > 1:
            key = (top.branch or "", cseq.method)
            self.branches[key] = _Branch(vias[1:], now + BRANCH_EXPIRE)
            self.branches.move_to_end(key)
            while len(self.branches) > self.max_branches:
                self.branches.popitem(last=False)
            req.headers.set("Via", vias[0])
        ours: Socket = (top.host, top.port or 5060, top.transport.lower())
        dlg, from_a = self._dialog_of(req)
        if dlg is None:
            if req.to_tag or req.method not in DIALOG_METHODS:
                return  # out of any dialog the proxy keeps: the Vias only
            dlg = self._new_dialog(req, ours, now)
        if from_a:
            dlg.b_sock = dlg.b_sock or ours
            contact = _contact_uri(A_PREFIX, dlg.a_uuid, ours)
        else:
            dlg.a_sock = dlg.a_sock or ours
            contact = _contact_uri(B_PREFIX, dlg.b_uuid, ours)
        dlg.touch(now)
        req.headers.remove("Record-Route")
        self._set_contact(req, contact)

    @staticmethod
    def _set_contact(msg: Message, uri: str) -> None:
        """Replace the Contact (keeping its header parameters) when there is one."""
        addrs = _addrs(msg, "Contact")
        if not addrs or addrs[0].is_star:
            return
        first = addrs[0]
        msg.headers.set("Contact", str(NameAddr(parse_uri(uri), first.display_name,
                                                dict(first.params))))  # fmt: skip
