"""What the transaction layer needs to know of SIP messages: transaction keys (RFC 3261
17.1.3, 17.2.3, with RFC 2543 matching), where responses go (18.2.2, RFC 3581), and the
ACK and CANCEL a client transaction builds (17.1.1.3, 9.1). The only places that know the
message API of :mod:`kamtool.sip.message`."""

from __future__ import annotations

from .events import Peer, TxKey
from .headers import MAGIC_COOKIE
from .message import Message, Request, Response

__all__ = ["build_ack", "build_cancel", "client_key", "server_key"]


def _default_port(transport: str) -> int:
    return 5061 if transport.lower() in ("tls", "wss") else 5060


def _via_key(via) -> tuple[str, str, int]:
    """(branch, sent-by host lower-cased, sent-by port with its default)."""
    port = via.port or _default_port(via.transport)
    return (via.branch or "", via.host.lower(), port)


def client_key(msg: Message) -> TxKey:
    """Key of the client transaction a request creates or a response belongs to (17.1.3):
    top Via branch and CSeq method (a CANCEL has its own transaction, same branch)."""
    return (msg.vias[0].branch or "", msg.cseq.method)


def server_key(request: Request) -> TxKey:
    """Key of the server transaction a request belongs to (17.2.3).

    With the magic cookie: branch, sent-by and method, ACK counting as INVITE. Without it
    (RFC 2543 peers) the Request-URI, From tag, Call-ID, CSeq number and top Via stand in for
    the branch; the To tag is checked separately (see TransactionLayer._find_server).
    """
    via = request.vias[0]
    method = request.method
    if method == "ACK":
        method = "INVITE"
    branch, host, port = _via_key(via)
    if branch.startswith(MAGIC_COOKIE):
        return (branch, host, port, method)
    return (
        "rfc2543",
        request.uri_text,
        request.from_.tag or "",
        request.call_id,
        request.cseq.num,
        branch,
        host,
        port,
        method,
    )


def _response_peer(request: Request, source: Peer) -> Peer:
    """Where responses to ``request`` go (RFC 3261 section 18.2.2, RFC 3581).

    Reliable transports: back over the connection it came on (the source). Otherwise maddr if
    present; the source address and port with ``rport``; else the source address and the
    sent-by port (its default when absent).
    """
    if source.reliable:
        return source
    via = request.vias[0]
    maddr = via.maddr
    if maddr:
        return Peer(source.transport, maddr, via.port or _default_port(via.transport))
    if via.has_rport:
        return source
    return Peer(source.transport, source.host, via.port or _default_port(via.transport))


def build_ack(request: Request, response: Response) -> bytes:
    """The hop-by-hop ACK for a non-2xx final ``response`` to INVITE ``request``
    (17.1.1.3), as bytes: same Request-URI, top Via (same branch), From, Call-ID, CSeq
    number, Route set and Max-Forwards (70 when it had none: tm's build_local copies
    the INVITE's, so a proxy's ACK carries the hop count its INVITE had) as the INVITE;
    To (with the tag) from the response.

    Written directly rather than through Request/Headers: it is on the hot path of every
    rejected call (each 401/407 challenge of an INVITE)."""
    parts = [
        f"ACK {request.uri_text} SIP/2.0\r\nVia: {request.vias[0]}\r\nFrom: {request.from_}"
        f"\r\nTo: {response.to}\r\nCall-ID: {request.call_id}\r\nCSeq: {request.cseq.num} ACK\r\n"
    ]
    for route in request.routes:
        parts.append(f"Route: {route}\r\n")
    mf = request.max_forwards
    parts.append(f"Max-Forwards: {70 if mf is None else mf}\r\nContent-Length: 0\r\n\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


def build_cancel(request: Request, extra: tuple = ()) -> Request:
    """The CANCEL of ``request`` (9.1): same Request-URI, top Via (same branch), From, To
    (no tag added), Call-ID, CSeq number, Route set and Max-Forwards (as tm, see
    build_ack); ``extra`` ``(name, value)`` headers after them (a Reason, RFC 3326)."""
    headers: list[tuple[str, object]] = [
        ("Via", request.vias[0]),
        ("From", request.from_),
        ("To", request.to),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.num} CANCEL"),
    ]
    headers.extend(("Route", route) for route in request.routes)
    mf = request.max_forwards
    headers.append(("Max-Forwards", "70" if mf is None else str(mf)))
    headers.extend(extra)
    return Request("CANCEL", request.uri_text, headers)
