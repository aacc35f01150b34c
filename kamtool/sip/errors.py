"""Errors of the SIP core.

Two kinds, as in h11: a :class:`ParseError` (alias :data:`RemoteProtocolError`) means the
peer sent something we must refuse, and carries the response the RFCs want for it; a
:class:`LocalProtocolError` means *our* code misused the API (a bug, never the network's fault).

Nothing but :class:`ParseError` ever escapes :func:`kamtool.sip.parse_message`, the stream
framer or the lazy header accessors, whatever the input (``bench/fuzz_sip.py`` checks it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalProtocolError", "ParseError", "RemoteProtocolError", "SipError"]


class SipError(Exception):
    """Base class of every error the SIP core raises."""


class ParseError(SipError):
    """A message (or part of one) from the network is malformed or refused.

    Attributes:
        status_code: the response a UAS/proxy should send for a *request* (400, 413, 416,
            420, 483, 501, 505 ...). For a malformed *response* nothing may be sent back:
            the caller drops it (see :attr:`is_request`).
        reason: reason phrase for that response, saying what is wrong (safe to send).
        headers: extra header fields the response must carry, e.g. ``("Unsupported", "foo")``
            for a 420 (RFC 3261 section 8.2.2.3).
        is_request: True when the start line was a request line, False for a status line,
            None when not even that could be told. Only requests get an error response.
        request: for a refused request whose header block could be split into fields, the
            :class:`~kamtool.sip.Request` with those raw fields (unvalidated, body empty), so
            that ``make_response(err.request, err.status_code, err.reason)`` can answer it
            (RFC 3261 8.2.6 copies Via/From/To/Call-ID/CSeq as they are). Else None.
    """

    def __init__(
        self,
        reason: str,
        status_code: int = 400,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        is_request: bool | None = None,
    ) -> None:
        super().__init__(f"{status_code} {reason}")
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.is_request = is_request
        self.request: Any = None

    @property
    def respond(self) -> bool:
        """True when the element should answer with :attr:`status_code` (requests only)."""
        return self.is_request is True


#: h11's name for the same thing: the remote peer broke the protocol.
RemoteProtocolError = ParseError


class LocalProtocolError(SipError):
    """Our own code used the SIP API wrongly (e.g. a header value with CR/LF in it)."""
