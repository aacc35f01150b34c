"""kamtool.sip: sans-IO SIP (no sockets, no asyncio, no clock reads; bytes in, bytes out).

Parsing and framing::

    from kamtool.sip import parse_message, StreamFramer, ParseError
    msg = parse_message(datagram)          # Request | Response, or raises ParseError
    framer = StreamFramer(); framer.feed(tcp_bytes)
    while (ev := framer.next_event()) is not None: ...   # Request/Response/KeepAlive

    except ParseError as e:                # e.status_code, e.reason, e.headers, e.respond
        if e.respond:                      # 400/505/513...; never answer a bad response
            make_response(e.request, e.status_code, e.reason, headers=e.headers)

``parse_message(data, eager=False)`` is the header-only fast path: start line, framing,
Call-ID, CSeq and the mandatory-field checks now, every other typed view on first access
(which may then raise ParseError). ``eager=True`` (default) validates every routing header.
``StreamFramer(pongs=True)`` on client connections reports a lone CRLF pong at once.

Messages (:class:`Request`, :class:`Response`), all routing views parsed and cached:

    msg.method, msg.uri (SipURI/TelURI/AbsoluteURI), msg.uri_text     requests
    msg.status, msg.reason                                             responses
    msg.call_id (str), msg.cseq (CSeq(num, method)), msg.vias (list[Via], top first),
    msg.top_via, msg.from_ / msg.to (NameAddr: .uri .display_name .tag .params),
    msg.from_tag, msg.to_tag, msg.max_forwards, msg.routes, msg.record_routes,
    msg.contacts (NameAddr; .is_star .expires .q), msg.expires, msg.content_length,
    msg.content_type, msg.authorizations / msg.proxy_authorizations (Credentials),
    msg.headers.get/get_all/get_lines/get_bytes/add/prepend/set/remove, msg.body (bytes)

Mutation for a proxy, then ``msg.to_bytes()`` (Content-Length set to match the body):

    req.prepend_via(Via("UDP", host, port, {"branch": make_branch(...)}))
    resp.pop_via(); req.replace_top_via(via.with_params(received=ip, rport=port))
    req.decrement_max_forwards(); req.prepend_route(addr); req.pop_route()
    req.prepend_record_route(NameAddr(SipURI(host, params={"lr": None})))
    req.uri = "sip:bob@192.0.2.4"; req.headers.remove("Proxy-Authorization")
    make_response(req, 200, to_tag="...")  # RFC 3261 8.2.6 copy rules
    check_request(req, role="proxy", supported=...)  # 416/420/483/501 verdicts

URIs: :func:`parse_uri` -> :class:`SipURI` (``==`` is RFC 3261 19.1.4 comparison),
:class:`TelURI`, :class:`AbsoluteURI`. Branches: :func:`make_branch` (deterministic,
magic cookie), :data:`MAGIC_COOKIE`, ``Via.is_rfc3261`` tells when RFC 2543 matching
(:func:`rfc2543_key`) applies.

Text values are ``str`` (UTF-8 with surrogateescape, so any byte survives); raw bytes
are kept for everything and unknown headers are written back byte-exact.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .branch import rfc2543_key, stateless_branch
    from .errors import LocalProtocolError, ParseError, RemoteProtocolError, SipError
    from .headers import (
        COMPACT_FORMS,
        LIST_HEADERS,
        MAGIC_COOKIE,
        Credentials,
        CSeq,
        NameAddr,
        Via,
        canonical_name,
        make_branch,
        parse_auth,
        parse_cseq,
        parse_name_addr,
        parse_name_addr_list,
        parse_params,
        parse_via,
        parse_via_list,
        quote,
        split_list,
        unquote,
    )
    from .message import REASON_PHRASES, Headers, Message, Request, Response, make_response
    from .parser import DEFAULT_MAX_MESSAGE_SIZE, KeepAlive, StreamFramer, parse_message
    from .uri import URI, AbsoluteURI, SipURI, TelURI, format_host, parse_uri
    from .validate import check_request

# Public names and the module defining each. They are imported on first access
# (PEP 562), so `import kamtool.sip.digest` (provisioning) does not load the parser.
_EXPORTS = {
    "rfc2543_key": "branch",
    "stateless_branch": "branch",
    "LocalProtocolError": "errors",
    "ParseError": "errors",
    "RemoteProtocolError": "errors",
    "SipError": "errors",
    "COMPACT_FORMS": "headers",
    "CSeq": "headers",
    "Credentials": "headers",
    "LIST_HEADERS": "headers",
    "MAGIC_COOKIE": "headers",
    "NameAddr": "headers",
    "Via": "headers",
    "canonical_name": "headers",
    "make_branch": "headers",
    "parse_auth": "headers",
    "parse_cseq": "headers",
    "parse_name_addr": "headers",
    "parse_name_addr_list": "headers",
    "parse_params": "headers",
    "parse_via": "headers",
    "parse_via_list": "headers",
    "quote": "headers",
    "split_list": "headers",
    "unquote": "headers",
    "Headers": "message",
    "Message": "message",
    "REASON_PHRASES": "message",
    "Request": "message",
    "Response": "message",
    "make_response": "message",
    "DEFAULT_MAX_MESSAGE_SIZE": "parser",
    "KeepAlive": "parser",
    "StreamFramer": "parser",
    "parse_message": "parser",
    "AbsoluteURI": "uri",
    "SipURI": "uri",
    "TelURI": "uri",
    "URI": "uri",
    "format_host": "uri",
    "parse_uri": "uri",
    "check_request": "validate",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kamtool.sip' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kamtool.sip.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "COMPACT_FORMS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "LIST_HEADERS",
    "MAGIC_COOKIE",
    "REASON_PHRASES",
    "URI",
    "AbsoluteURI",
    "CSeq",
    "Credentials",
    "Headers",
    "KeepAlive",
    "LocalProtocolError",
    "Message",
    "NameAddr",
    "ParseError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "SipError",
    "SipURI",
    "StreamFramer",
    "TelURI",
    "Via",
    "canonical_name",
    "check_request",
    "format_host",
    "make_branch",
    "make_response",
    "parse_auth",
    "parse_cseq",
    "parse_message",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_params",
    "parse_uri",
    "parse_via",
    "parse_via_list",
    "quote",
    "rfc2543_key",
    "split_list",
    "stateless_branch",
    "unquote",
]
