"""SIP dialogs for a user agent (RFC 3261 section 12), sans-IO.

A :class:`Dialog` is the state one side keeps for a call: its id (Call-ID, local tag, remote
tag), state (early, confirmed, terminated), route set, remote target and the two CSeq
counters. It creates in-dialog requests (BYE, re-INVITE, the ACK of a 2xx) and checks
incoming ones. The caller draws tags and branches and decides where to send.

UAC::

    dlg = Dialog.from_uac(invite, response)          # 1xx with To tag (early) or 2xx
    ack = dlg.create_request("ACK", via=..., cseq=invite.cseq.num)   # ACK of the 2xx
    bye = dlg.create_request("BYE", via=...)          # then layer.send_request(bye, ...)

UAS::

    dlg = Dialog.from_uas(invite, local_tag=tag)      # answer with that To tag
    status = dlg.receive_request(request)             # None, or 500/... to answer with

A stateful proxy's view of dialogs (Kamailio's dlg states 1..5) lives in kamtool.proxy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .message import Request, Response
from .uri import SipURI

__all__ = ["Dialog", "DialogError", "DialogState"]


class DialogError(ValueError):
    """A message that cannot create or update this dialog (no tag, wrong dialog ...)."""


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(slots=True)
class Dialog:
    """One side of a dialog. Header values (``local_party`` etc.) are kept as text.

    ``local_party``/``remote_party`` are the From/To values this side writes (tags
    included); ``remote_target`` is the peer's Contact URI; ``route_set`` is in the order
    requests carry it (section 12.1.1/12.1.2).
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str
    remote_party: str
    remote_target: str
    route_set: tuple[str, ...] = ()
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    is_uac: bool = True
    state: DialogState = DialogState.EARLY
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> tuple[str, str, str]:
        """Dialog id (12): Call-ID, local tag, remote tag."""
        return (self.call_id, self.local_tag, self.remote_tag)

    # ------------------------------------------------------------------ creation

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """Dialog of the UAC from a 101-199 (with To tag) or 2xx response (12.1.2).

        Route set: the response's Record-Route in reverse order; remote target: its Contact.
        """
        tag = response.to.tag if response.to is not None else None
        if not tag or not 101 <= response.status < 300:
            raise DialogError("only a 101-299 response with a To tag creates a dialog")
        contacts = response.contacts
        if not contacts or contacts[0].uri is None:
            raise DialogError("a dialog-creating response needs a Contact")
        state = DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=tag,
            local_party=str(request.from_),
            remote_party=str(response.to),
            remote_target=str(contacts[0].uri),
            route_set=tuple(str(r) for r in reversed(response.record_routes)),
            local_seq=request.cseq.num,
            remote_seq=None,
            secure=_secure(request),
            is_uac=True,
            state=state,
        )

    @classmethod
    def from_uas(cls, request: Request, local_tag: str, *, confirmed: bool = False) -> Dialog:
        """Dialog of the UAS answering ``request`` with To tag ``local_tag`` (12.1.1).

        Route set: the request's Record-Route in order; remote target: its Contact. Early
        until ``confirm()`` (the TU sends a 2xx) unless ``confirmed``.
        """
        contacts = request.contacts
        if not contacts or contacts[0].uri is None:
            raise DialogError("a dialog-creating request needs a Contact")
        if request.to.tag:
            raise DialogError("the request is already inside a dialog")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_party=str(request.to.with_params(tag=local_tag)),
            remote_party=str(request.from_),
            remote_target=str(contacts[0].uri),
            route_set=tuple(str(r) for r in request.record_routes),
            local_seq=None,
            remote_seq=request.cseq.num,
            secure=_secure(request),
            is_uac=False,
            state=DialogState.CONFIRMED if confirmed else DialogState.EARLY,
        )

    # ------------------------------------------------------------------ updates

    def matches(self, msg: Request | Response) -> bool:
        """Whether a request (or response) belongs to this dialog (12.2.2)."""
        if msg.call_id != self.call_id:
            return False
        if msg.is_request:  # sent by the peer: its From is the remote side
            local, remote = msg.to.tag, msg.from_.tag
        else:  # a response to a request this side sent
            local, remote = msg.from_.tag, msg.to.tag
        return local == self.local_tag and (remote or "") == self.remote_tag

    def receive_response(self, response: Response) -> None:
        """Update with a response to a request of this dialog (UAC side, 12.1.2, 12.2.1.2).

        A 2xx to the INVITE confirms an early dialog and recomputes its route set; a 2xx
        refreshes the remote target; a final error of the dialog-creating INVITE, or a
        481/408 to any request, terminates it (12.2.1.2).
        """
        status = response.status
        method = response.cseq.method
        if status in (481, 408):
            self.state = DialogState.TERMINATED
            return
        if method == "INVITE" and status >= 300 and self.state is DialogState.EARLY:
            self.state = DialogState.TERMINATED
            return
        if 200 <= status < 300:
            if method == "INVITE" and self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
                self.remote_party = str(response.to)
                self.route_set = tuple(str(r) for r in reversed(response.record_routes))
            if method in ("INVITE", "UPDATE") and response.contacts:
                self._refresh_target(response.contacts)
            if method == "BYE":
                self.state = DialogState.TERMINATED
        elif status < 200 and self.state is DialogState.EARLY and response.contacts:
            self._refresh_target(response.contacts)

    def confirm(self) -> None:
        """The UAS sent a 2xx for the dialog-creating request."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    def receive_request(self, request: Request) -> int | None:
        """Check an in-dialog request (12.2.2); None to accept, else the status to answer.

        Out-of-order CSeq (lower than the last one) gets 500. ACK and CANCEL carry the CSeq
        of the INVITE they belong to and are not counted. A target-refresh (re-INVITE,
        UPDATE) updates the remote target; BYE terminates the dialog.
        """
        if self.state is DialogState.TERMINATED:
            return 481
        method = request.method
        num = request.cseq.num
        if method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and num < self.remote_seq:
                return 500
            self.remote_seq = num
        if method in ("INVITE", "UPDATE") and request.contacts:
            self._refresh_target(request.contacts)
        elif method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def _refresh_target(self, contacts) -> None:
        if contacts[0].uri is not None:
            self.remote_target = str(contacts[0].uri)

    # ------------------------------------------------------------------ new requests

    def next_hop(self) -> str:
        """URI of the next hop for requests of this dialog (first Route, else the target);
        the caller resolves it (RFC 3263) to an address."""
        if self.route_set:
            return str(_uri_of(self.route_set[0]))
        return self.remote_target

    def create_request(
        self,
        method: str,
        *,
        via: str,
        cseq: int | None = None,
        contact: str | None = None,
        headers: list[tuple[str, object]] | tuple[tuple[str, object], ...] = (),
        body: bytes = b"",
        max_forwards: int = 70,
        initial_seq: int = 1,
    ) -> Request:
        """A request inside the dialog (12.2.1.1).

        ``via`` is the full Via value with a fresh branch (the caller draws it). CSeq: the
        local sequence number plus one (ACK and CANCEL pass the INVITE's ``cseq``); a UAS
        that never sent a request starts at ``initial_seq``. Request-URI and Route: the
        remote target and the route set when the first route is a loose router (``lr``),
        else the strict-routing form (first route as Request-URI, the remote target appended
        as last Route).
        """
        if self.state is DialogState.TERMINATED and method not in ("ACK", "BYE"):
            raise DialogError("the dialog is terminated")
        if cseq is None:
            if method in ("ACK", "CANCEL"):
                raise DialogError(f"{method} needs the CSeq number of its INVITE")
            cseq = initial_seq if self.local_seq is None else self.local_seq + 1
            self.local_seq = cseq
        ruri, routes = self.remote_target, list(self.route_set)
        if routes:
            first = _uri_of(routes[0])
            if not (isinstance(first, SipURI) and first.lr):
                # 12.2.1.1 strict router: it becomes the Request-URI (params a Request-URI
                # may not carry stripped), the remote target goes last.
                if isinstance(first, SipURI):
                    first = first.replace(headers=()).without_params("method", "ttl")
                ruri = str(first)
                routes = routes[1:] + [f"<{self.remote_target}>"]
        out: list[tuple[str, object]] = [
            ("Via", via),
            ("From", self.local_party),
            ("To", self.remote_party),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        out.extend(("Route", r) for r in routes)
        out.append(("Max-Forwards", str(max_forwards)))
        if contact is not None:
            out.append(("Contact", contact))
        out.extend(headers)
        return Request(method, ruri, out, body)


def _uri_of(name_addr: str):
    from .headers import parse_name_addr

    return parse_name_addr(name_addr, "Route").uri


def _secure(request: Request) -> bool:
    """12.1.1/12.1.2: secure when the request went over TLS with a sips Request-URI."""
    uri = request.uri
    return isinstance(uri, SipURI) and uri.secure
