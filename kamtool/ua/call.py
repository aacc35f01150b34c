"""What a simulated phone keeps about its calls and messages (:mod:`kamtool.ua.phone`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kamtool.errors import KamtoolError
from kamtool.sip import Request, Response
from kamtool.sip.dialog import Dialog

# A session description without media: the demo shows signalling, nobody listens.
SDP = (
    "v=0\r\no=- {id} 1 IN IP4 {ip}\r\ns=kamtool demo\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n"
)


class CallFailed(KamtoolError):
    """A request of the phone got a final error response (or none)."""


@dataclass(frozen=True)
class TraceEntry:
    """One message the phone sent (``outgoing``) or received, for the demo's account."""

    at: float  # the loop's clock (monotonic seconds)
    phone: str
    outgoing: bool
    peer: str  # "127.0.0.1:5060"
    summary: str  # "INVITE sip:1002@127.0.0.1" or "407 Proxy Authentication Required (INVITE)"


def summarize(msg: Request | Response) -> str:
    """The start line of a message in a few words (responses name their method)."""
    if isinstance(msg, Request):
        signed = "Authorization" in msg.headers or "Proxy-Authorization" in msg.headers
        return f"{msg.method} {msg.uri_text}" + (" (with digest credentials)" if signed else "")
    return f"{msg.status} {msg.reason} ({msg.cseq.method})"


@dataclass
class Call:
    """A call of this phone: its dialog once one exists, and how it went."""

    call_id: str
    peer: str  # the other party's AoR
    outgoing: bool
    dialog: Dialog | None = None
    answered: bool = False
    ended_by: str | None = None  # "us" | "them" | None while up
    status: int | None = None  # final response to the INVITE
    provisional: list[int] = field(default_factory=list)
    invite: Request | None = None  # the INVITE that made the dialog (UAC: for ACKs)
    ack: bytes | None = None  # the ACK of our 2xx (UAC), re-sent on 2xx retransmissions

    @property
    def up(self) -> bool:
        return self.answered and self.ended_by is None
