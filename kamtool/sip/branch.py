"""Transaction identifiers derived from message fields (no randomness: sans-IO).

- :func:`stateless_branch`: the branch a stateless proxy puts in its Via, computed from
  the request so that a retransmission gets the same branch (as Kamailio's ``sl``/``forward``
  does), and a CANCEL or non-2xx ACK the same one as its INVITE (RFC 3261 16.11).
- :func:`rfc2543_key`: the fields RFC 3261 section 17.2.3 falls back to when the top Via
  branch lacks the ``z9hG4bK`` magic cookie.
"""

from __future__ import annotations

from .headers import make_branch
from .message import Message, Request

__all__ = ["rfc2543_key", "stateless_branch"]


def stateless_branch(req: Request, secret: bytes = b"") -> str:
    """Deterministic branch for forwarding ``req`` statelessly.

    Built from the incoming top Via branch when it is an RFC 3261 one, else from the
    RFC 2543 identifying fields. CANCEL and ACK hash as INVITE so they follow its path.
    """
    via = req.top_via
    cseq = req.cseq
    method = cseq.method if cseq is not None else req.method
    if method in ("ACK", "CANCEL"):
        method = "INVITE"
    if via is not None and via.is_rfc3261:
        return make_branch("3261", via.branch or "", via.host, via.port or 0, method, secret=secret)
    return make_branch("2543", *map(str, rfc2543_key(req, include_to_tag=False)), secret=secret)


def rfc2543_key(msg: Message, *, include_to_tag: bool = True) -> tuple[object, ...]:
    """RFC 2543 transaction key: (Request-URI, To tag, From tag, Call-ID, CSeq number,
    CSeq method with ACK/CANCEL mapped to INVITE, top Via sent-by and parameters).

    ``include_to_tag=False`` for matching an ACK (its To tag comes from our response) or
    a CANCEL. For responses the Request-URI part is None.
    """
    via = msg.top_via
    cseq = msg.cseq
    method = cseq.method if cseq is not None else ""
    if method in ("ACK", "CANCEL"):
        method = "INVITE"
    uri = msg.uri_text if isinstance(msg, Request) else None
    via_key = None
    if via is not None:
        via_key = (via.transport, via.host.lower(), via.port, via.branch)
    return (
        uri,
        msg.to_tag if include_to_tag else None,
        msg.from_tag,
        msg.call_id,
        cseq.num if cseq is not None else None,
        method,
        via_key,
    )
