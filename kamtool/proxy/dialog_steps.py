"""The dialog module's steps around relaying: an INVITE becomes a dialog, its replies
move the dialog on, requests inside it update it, and the proxy can end it with BYEs.

:class:`DialogSteps` is what ``KSR.tm.t_relay`` (after ``dlg_manage()``) and the in-dialog
part of the route call; the table itself is :class:`~kamtool.proxy.dialogs.DialogTracker`.
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.codec import socket_of_uri
from kamtool.proxy.dialogs import DLG_STATE_CONFIRMED_NA, DLG_STATE_DELETED, Leg
from kamtool.sip.errors import ParseError


class ByeSender:
    """BYE from the proxy to one side of a dialog (lifetime over, ``dlg.end_dlg``), sent
    as a client transaction (retransmitted over UDP, replies absorbed). The tracker is
    built with :meth:`send` as its ``send_bye``."""

    def __init__(self, tm: Any, wire: Any, codec: Any) -> None:
        self.tm = tm
        self.wire = wire
        self.codec = codec

    def send(self, dialog: Any, side: str) -> None:
        leg = dialog.callee if side == "callee" else dialog.caller
        if leg.addr is None or not leg.contact:
            return
        local = self.wire.local_socket(leg.addr, leg.socket)
        make_bye = self.codec.make_bye
        self.tm.send_local("BYE", leg.addr, lambda branch: make_bye(dialog, side, local, branch))


class DialogSteps:
    """Dialog tracking for the transactions the route relays (see module docstring)."""

    def __init__(self, tracker: Any, codec: Any, wire: Any, myself: Any) -> None:
        self.tracker = tracker  # kamtool.proxy.dialogs.DialogTracker
        self.codec = codec
        self.wire = wire
        self.myself = myself

    # ------------------------------------------------------------------ initial INVITE

    def create(self, req: Any, endpoint: Any, stx: Any, profiles: list[Any]) -> Any:
        """A new dialog for the INVITE of ``stx`` (the caller's leg), in ``profiles``."""
        codec = self.codec
        return self.tracker.create(
            codec.call_id(req),
            str(codec.from_uri(req)),
            str(codec.to_uri(req)),
            Leg(
                tag=codec.from_tag(req),
                contact=codec.first_contact_uri(req),
                cseq=str(codec.cseq_num(req)),
                route_set=self._caller_route_set(req),
                socket=endpoint.listen.socket_str,
                addr=(endpoint.proto, *stx.reply_addr),
            ),
            profiles,
        )

    @staticmethod
    def _caller_route_set(req: Any) -> str:
        """The INVITE's Record-Route (the proxies towards the caller, ours not added yet):
        the caller's route set from the start, as dlg.list shows Kamailio's ("" if none)."""
        try:
            return ",".join(str(r) for r in req.record_routes)
        except ParseError:
            return ""

    def on_response(self, stx: Any, ctx: Any, resp: Any) -> None:
        """tm's ``on_response`` of a dialog's INVITE: early on 1xx with a tag, confirmed
        (the callee's leg and both route sets) on 2xx."""
        dialog = stx.ctx
        if dialog is None:
            return
        status = resp.status
        if 100 < status < 200:
            self.tracker.provisional(dialog)
        elif 200 <= status < 300:
            caller_routes, callee_routes = self.route_sets(resp, dialog.did)
            dialog.caller.route_set = caller_routes
            local = self.wire.local_socket(ctx.target.dest)  # the one we sent from
            self.tracker.confirmed(
                dialog,
                Leg(
                    tag=self.codec.to_tag(resp),
                    contact=self.codec.first_contact_uri(resp),
                    # the callee's CSeq as its early requests left it (populate_leg_info
                    # keeps dlg->cseq[callee]), "0" when it sent none
                    cseq=dialog.callee.cseq or "0",
                    route_set=callee_routes,
                    socket=local.socket_str if local is not None else None,
                    addr=ctx.target.dest,
                ),
            )

    def on_final(self, stx: Any, final: Any) -> None:
        """tm's ``on_final``: a dialog whose INVITE failed (or timed out) is over."""
        dialog = stx.ctx
        if dialog is not None and (final is None or final.status >= 300):
            self.tracker.failed(dialog)

    def route_sets(self, resp: Any, did: str) -> tuple[str, str]:
        """(towards the caller, towards the callee) from the 2xx's Record-Route: the
        entries below ours lead to the caller, those above ours (reversed) to the callee.
        Comma-joined, "" when there is none (as dlg.list prints them)."""
        try:
            rrs = [str(r) for r in resp.record_routes]
            ours = next(i for i, r in enumerate(resp.record_routes) if self._is_our_rr(r, did))
        except (ParseError, StopIteration):
            return "", ""
        last = ours  # a double Record-Route: both entries are ours
        while last + 1 < len(rrs) and self._is_our_rr(resp.record_routes[last + 1], did):
            last += 1
        return ",".join(rrs[last + 1 :]), ",".join(reversed(rrs[:ours]))

    def _is_our_rr(self, rr: Any, did: str) -> bool:
        return self.myself.is_myself(rr.uri) and getattr(rr.uri, "params", {}).get("did") == did

    # ------------------------------------------------------------------ in-dialog

    def dialog_of(self, req: Any, loose: Any) -> Any:
        """The tracked dialog of a request inside one, unchanged: by the ``did`` of our
        Route (``loose``: loose_route()'s result), else by Call-ID and tags; or None."""
        did = loose[0] if loose else None
        dialog = self.tracker.by_did(did) if did else None
        if dialog is None:
            codec = self.codec
            dialog = self.tracker.find(codec.call_id(req), codec.from_tag(req), codec.to_tag(req))
        return dialog

    def in_dialog(self, req: Any, loose: Any) -> Any:
        """A request inside a dialog (``loose``: loose_route()'s ``(did, target, second)``
        or None): the socket our second Route names, then the dialog's state (ACK, BYE,
        CSeq). Returns the dialog, or None when it is not one of ours."""
        _did, target, second = loose or (None, None, None)
        if second is not None and target is not None:
            self.wire.force_named(target.dest, socket_of_uri(second))
        tracker = self.tracker
        dialog = self.dialog_of(req, loose)
        if dialog is None:
            return None
        method = req.method
        if method == "ACK":
            tracker.acked(dialog)
        elif method == "BYE":
            tracker.bye(dialog)
        elif dialog.state != DLG_STATE_DELETED:
            tag = self.codec.from_tag(req)
            leg = dialog.caller if tag == dialog.caller.tag else dialog.callee
            leg.cseq = str(self.codec.cseq_num(req))
            tracker.refreshed(dialog)
        return dialog

    def target_refresh(self, req: Any, dialog: Any) -> Any:
        """The response hook of a target refresh (re-INVITE, UPDATE) in an answered
        ``dialog``, or None: its 2xx makes the request's Contact the sender's contact (the
        one dlg.end_dlg's BYE goes to). RFC 3261 §12.2, RFC 3311 §5.1 and RFC 6141 §3.3:
        only a successful refresh moves the target, and UPDATE refreshes it too. Kamailio
        5.6's dialog module differs (a bug): it takes the Contact of every re-INVITE
        request, even one refused with 488 or 491, and never an UPDATE's."""
        if req.method not in ("INVITE", "UPDATE") or dialog.state < DLG_STATE_CONFIRMED_NA:
            return None
        contact = self.codec.first_contact_uri(req)
        tag = self.codec.from_tag(req)
        leg = next((x for x in (dialog.caller, dialog.callee) if x.tag == tag), None)
        if not contact or leg is None:
            return None

        def refreshed(stx: Any, ctx: Any, resp: Any) -> None:
            if 200 <= resp.status < 300:
                leg.contact = contact

        return refreshed
