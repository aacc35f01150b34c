"""Checks a proxy or UAS makes on a well-formed request before acting on it.

:func:`parse_message` answers "is this SIP?"; :func:`check_request` answers "may I process
it?" and raises :class:`~kamtool.sip.ParseError` with the status the RFCs require:

- 416 Unsupported URI Scheme: Request-URI scheme not understood (RFC 3261 8.2.2.1, 16.3)
- 483 Too Many Hops: Max-Forwards 0 on a request a proxy must forward (16.3 step 2);
  a UAS may still answer OPTIONS itself (RFC 4475 3.3.11)
- 420 Bad Extension with ``Unsupported``: option tags in Proxy-Require (proxy) or
  Require (UAS) that are not supported (8.2.2.3, 16.3 step 6)
- 501 Not Implemented: unknown method at a UAS (8.2.1)
- 400 Bad Request: headers in the Request-URI (19.1.5), ``Contact: *`` misuse (10.2.2)
- 415 Unsupported Media Type: body type the UAS cannot handle (8.2.3)
- 406 Not Acceptable: the Accept header allows none of the body types the UAS would answer
  with (21.4.7, RFC 4475 3.3.15)
"""

from __future__ import annotations

from collections.abc import Collection

from .errors import ParseError
from .message import Request
from .uri import SipURI

__all__ = ["UAS_METHODS", "check_request"]

UAS_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY"}
    | {"PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}
)


def check_request(
    req: Request,
    *,
    role: str = "proxy",
    supported: Collection[str] = (),
    methods: Collection[str] = UAS_METHODS,
    schemes: Collection[str] = ("sip", "sips", "tel"),
    content_types: Collection[str] | None = None,
    answer_types: Collection[str] | None = None,
) -> None:
    """Raise :class:`ParseError` with the RFC response if ``req`` must be refused.

    ``role`` is ``"proxy"`` (checks Proxy-Require, Max-Forwards) or ``"uas"`` (Require,
    method, body type). ``supported`` lists our option tags; ``content_types`` (UAS only)
    the body types we accept and ``answer_types`` those we answer with (None: do not check).
    """
    try:
        _check(req, role, supported, methods, schemes, content_types)
        if role == "uas" and answer_types is not None and "accept" in req.headers:
            _check_accept(req, answer_types)
    except ParseError as e:
        e.is_request = True
        raise


def _check(
    req: Request,
    role: str,
    supported: Collection[str],
    methods: Collection[str],
    schemes: Collection[str],
    content_types: Collection[str] | None,
) -> None:
    uri = req.uri
    if uri.scheme not in schemes:
        raise ParseError("Unsupported URI Scheme", 416)
    if isinstance(uri, SipURI) and uri.headers:
        raise ParseError("Headers not allowed in Request-URI")
    contacts = req.contacts
    if any(c.is_star for c in contacts) and (
        req.method != "REGISTER" or len(contacts) != 1 or req.expires != 0
    ):
        raise ParseError("Invalid use of Contact *")
    if role == "uas" and req.method not in methods:
        raise ParseError("Not Implemented", 501, headers=(("Allow", ", ".join(sorted(methods))),))
    require_hdr = "proxy-require" if role == "proxy" else "require"
    wanted = req.headers.get_all(require_hdr)
    have = {s.lower() for s in supported}
    unsupported = [tag for tag in wanted if tag.lower() not in have]
    if unsupported and req.method not in ("ACK", "CANCEL"):
        raise ParseError("Bad Extension", 420, headers=(("Unsupported", ", ".join(unsupported)),))
    if role == "proxy":
        mf = req.max_forwards
        if mf == 0:
            raise ParseError("Too Many Hops", 483)
    elif content_types is not None and req.body:
        ctype = (req.content_type or "").split(";")[0].strip().lower()
        accepted = {c.lower() for c in content_types}
        if ctype not in accepted:
            raise ParseError(
                "Unsupported Media Type", 415, headers=(("Accept", ", ".join(content_types)),)
            )


def _check_accept(req: Request, answer_types: Collection[str]) -> None:
    accepted = set()
    for item in req.headers.get_all("accept"):
        media = item.split(";")[0].strip().lower()
        accepted.add(media)
    if not accepted:  # an empty Accept means no body may be sent; nothing to refuse
        return
    for t in answer_types:
        t = t.lower()
        if t in accepted or "*/*" in accepted or t.split("/")[0] + "/*" in accepted:
            return
    raise ParseError("Not Acceptable", 406, headers=(("Accept", ", ".join(answer_types)),))
