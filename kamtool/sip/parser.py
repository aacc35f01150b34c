"""Bytes to messages: :func:`parse_message` for a datagram, :class:`StreamFramer` for TCP/TLS.

The fast path splits the header block once, maps each field name to its canonical key
through a small cache, keeps every line as raw bytes, and parses only the fields routing
needs (all of them with ``eager=True``, the default; with ``eager=False`` only Call-ID,
CSeq, Content-Length and the mandatory-field checks, the rest on first access).

Anything malformed raises :class:`~kamtool.sip.ParseError` carrying the response the RFCs
want (400, 505 ...); nothing else escapes, for any input.
"""

from __future__ import annotations

import re

from . import _abnf
from .errors import ParseError
from .headers import SINGLETON_HEADERS, _name_cache, canonical_name, display_name
from .message import Headers, Message, Request, Response

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "KeepAlive", "StreamFramer", "parse_message"]

#: Largest message the parsers accept (bytes); bigger ones get a 513 Message Too Large.
DEFAULT_MAX_MESSAGE_SIZE = 65535

_REQUEST_LINE_RE = re.compile(rb"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) ([A-Za-z]+/\d+\.\d+)\Z")
_STATUS_LINE_RE = re.compile(rb"([A-Za-z]+/\d+\.\d+) (\d{3}) ([^\r\n]*)\Z")
_STATUS_LINE_LOOSE_RE = re.compile(rb"[A-Za-z]+/\d+\.\d+ ")
_URI_START_RE = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*:")
_NAME_RE = re.compile(rf"{_abnf.token}[ \t]*".encode())
_LINE_SPLIT_RE = re.compile(rb"\r?\n")
_CL_RE = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?([^\r\n]*)", re.I)
MALFORMED_REQUEST_LINE = "Malformed Request-Line"  # (sl tells an unreadable line by it)

#: methods RFC 3261 and extensions define; a mismatching CSeq on another method is a 501
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)

_MANDATORY = ("via", "from", "to", "call-id", "cseq")
_MANDATORY_SET = frozenset(_MANDATORY)


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def parse_message(
    data: bytes | bytearray | memoryview,
    *,
    eager: bool = True,
    stream: bool = False,
    max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> Request | Response:
    """Parse one SIP message from a datagram (or a frame cut by :class:`StreamFramer`).

    - Leading CRLFs (and bare CRs and LFs) are skipped (RFC 3261 7.5).
    - Content-Length larger than the data is a 400; shorter data after the body is
      dropped (18.3). Without Content-Length the rest of a datagram is the body.
    - Routing headers are parsed and validated now (``eager=True``) or on first access.
    - Raises :class:`ParseError` (with ``is_request`` set when the start line told it).
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_size:
        raise ParseError("Message Too Large", 513, is_request=not data.startswith(b"SIP/"))
    start = 0
    while start < len(data) and data[start] in b"\r\n":  # (bare LFs too, as Kamailio)
        start += 1
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head = data[start:end]
        body = data[end + 4 :]
    else:
        lf_end = data.find(b"\n\n", start)
        if lf_end >= 0:
            head = data[start:lf_end]
            body = data[lf_end + 2 :]
        elif data.endswith(b"\r\n") and len(data) > start:
            # lenient: a datagram whose last header line lacks the empty line
            head = data[start:-2]
            body = b""
        else:
            raise ParseError("Missing end of header block")

    lines = head.split(b"\r\n")
    if head.count(b"\n") != len(lines) - 1:  # bare LF line ends (lenient)
        lines = _LINE_SPLIT_RE.split(head)
    first = lines[0]

    # -- start line ---------------------------------------------------------------------------
    msg: Request | Response
    start_error: ParseError | None = None
    if first[:4] == b"SIP/" or _STATUS_LINE_LOOSE_RE.match(first):
        is_request = False
        m = _STATUS_LINE_RE.match(first)
        if m is None:
            raise ParseError("Malformed Status-Line", is_request=False)
        version, code, reason = m.groups()
        status = int(code)
        if not 100 <= status <= 699:
            raise ParseError("Bad status code", is_request=False)
        if version.upper() != b"SIP/2.0":
            raise ParseError("Version Not Supported", 505, is_request=False)
        msg = Response.__new__(Response)
        msg.status = status
        msg.reason = _decode(reason)
        msg.version = _decode(version)
    else:
        is_request = True
        m = _REQUEST_LINE_RE.match(first)
        if m is not None:
            method, uri, version = m.groups()
        else:
            # Refused, but if the line still splits into three tokens the header fields are
            # read so that ParseError.request can be answered (RFC 3261 8.2.6 needs only Via,
            # From, To, Call-ID and CSeq).
            start_error = ParseError(MALFORMED_REQUEST_LINE, is_request=True)
            parts = first.split()
            if len(parts) < 3:
                raise start_error
            method, uri, version = parts[0], parts[1], parts[-1]
        if start_error is None and version.upper() != b"SIP/2.0":
            start_error = ParseError("Version Not Supported", 505, is_request=True)
        if start_error is None and not _URI_START_RE.match(uri):
            start_error = ParseError("Malformed Request-URI", is_request=True)
        msg = Request.__new__(Request)
        msg.method = method.decode("ascii", "replace")
        msg._uri_text = _decode(uri)
        msg._uri = None
        msg.version = _decode(version)

    try:
        # -- header fields --
        out = lines[1:]
        if b"\n " in head or b"\n\t" in head:
            out = _unfold_lines(out)
        get = _name_cache.get
        # fast: every name already known; a line without ':' or an unknown name gives None
        # and the slow path (validating, raising) takes over
        keys = [get(line[: line.find(b":")]) if b":" in line else None for line in out]
        if None in keys:
            keys = [_header_key(line) for line in out]
        headers = Headers._from_parsed(keys, out)
        msg.headers = headers
        if start_error is not None:
            raise start_error

        # -- mandatory fields and framing --
        present = set(keys)
        if not present >= _MANDATORY_SET:
            for key in _MANDATORY:
                if key not in present:
                    raise ParseError(f"Missing {display_name(key)} header")
        if len(present) < len(keys):  # some name repeats: is it one that must not?
            for key in SINGLETON_HEADERS:
                if keys.count(key) > 1:
                    raise ParseError(f"Multiple {display_name(key)} headers")

        cl = msg.content_length
        if cl is not None:
            if cl > len(body):
                raise ParseError("Content-Length larger than message")
            if cl < len(body):
                body = body[:cl]
        elif stream:
            body = b""
        msg.body = body

        cseq = msg.cseq
        assert msg.call_id is not None and cseq is not None
        if is_request:
            method_s = msg.method  # type: ignore[union-attr]
            if cseq.method != method_s:
                if method_s not in KNOWN_METHODS:
                    raise ParseError("Not Implemented", 501)
                raise ParseError("CSeq method does not match Request-Line")
            if eager:
                msg.uri  # noqa: B018 - validates the Request-URI
        if eager:
            msg.validate()
    except ParseError as e:
        e.is_request = is_request
        if is_request and hasattr(msg, "headers"):
            msg.body = b""
            e.request = msg
        raise
    return msg


def _unfold_lines(lines: list[bytes]) -> list[bytes]:
    """Join continuation lines (leading SP/HTAB) to the line before, keeping the CRLF."""
    out: list[bytes] = []
    for line in lines:
        c = line[:1]
        if c == b" " or c == b"\t":
            if not out:
                raise ParseError("Continuation line before first header")
            out[-1] = out[-1] + b"\r\n" + line
        else:
            out.append(line)
    return out


def _header_key(line: bytes) -> str:
    i = line.find(b":")
    if i <= 0:
        if not line:
            raise ParseError("Empty line inside header block")
        raise ParseError("Malformed header line")
    name = line[:i]
    key = _name_cache.get(name)
    if key is None:
        if _NAME_RE.fullmatch(name) is None:
            raise ParseError("Malformed header name")
        key = canonical_name(name)
    return key


class KeepAlive:
    """A RFC 5626 keep-alive on a stream: ``ping`` (CRLFCRLF, answer with CRLF) or pong."""

    __slots__ = ("ping",)

    def __init__(self, ping: bool) -> None:
        self.ping = ping

    def __repr__(self) -> str:
        return "KeepAlive(ping)" if self.ping else "KeepAlive(pong)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeepAlive) and other.ping == self.ping

    __hash__ = None  # type: ignore[assignment]


PING = KeepAlive(True)
PONG = KeepAlive(False)


class StreamFramer:
    """Cut a TCP/TLS byte stream into messages by Content-Length (RFC 3261 18.3).

    Usage (h11 style)::

        framer.feed(data)
        while (event := framer.next_event()) is not None:
            ...  # a Request, a Response, or a KeepAlive (answer a ping with b"\\r\\n")

    Partial input waits for more; one read may hold several messages. A lone CRLF is a
    pong; on the server side (default) it is held until the next byte shows it is not the
    first half of a CRLFCRLF ping. A client that sent pings passes ``pongs=True`` to have a
    lone CRLF reported at once. A message without
    Content-Length is taken to have no body. After a :class:`ParseError` the stream has
    lost its framing: :attr:`broken` is set, every later call raises again, and the
    transport should answer (if ``err.respond``) and close the connection.
    """

    def __init__(
        self, max_size: int = DEFAULT_MAX_MESSAGE_SIZE, *, eager: bool = True, pongs: bool = False
    ) -> None:
        self._buf = bytearray()
        self.pongs = pongs
        self.max_size = max_size
        self.eager = eager
        self.broken: ParseError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as an event."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Add received bytes (any size, any split)."""
        self._buf += data

    def next_event(self) -> Request | Response | KeepAlive | None:
        """Next complete message or keep-alive, or None when more data is needed."""
        if self.broken is not None:
            raise self.broken
        buf = self._buf
        if buf[:1] == b"\n":  # bare LFs before a message: skipped (as Kamailio), all at once
            del buf[: len(buf) - len(buf.lstrip(b"\n"))]
        if buf[:1] == b"\r":
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]
                return PING
            if buf[:2] == b"\r\n":
                if len(buf) == 2 and not self.pongs:
                    return None  # maybe the first half of a ping
                if buf[2:3] != b"\r":
                    del buf[:2]
                    return PONG
                if len(buf) == 3:
                    return None  # b"\r\n\r": wait for the rest of a ping
            if len(buf) < 2:
                return None
            return self._fail(ParseError("Bad framing"))
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > self.max_size:
                return self._fail(ParseError("Message Too Large", 513))
            return None
        found = _CL_RE.findall(buf, 0, end + 2)
        length = 0
        if found:
            text = found[0].strip()
            if len(found) > 1 or not text.isdigit() or len(text) > 9:
                # the framing is lost: nobody knows where the next message starts
                return self._fail(ParseError("Bad or multiple Content-Length headers"))
            length = int(text)
        total = end + 4 + length
        if total > self.max_size:
            return self._fail(ParseError("Message Too Large", 513))
        if len(buf) < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        # a bad message inside a well-framed frame does not break the stream
        return parse_message(frame, eager=self.eager, stream=True, max_size=self.max_size)

    def _fail(self, err: ParseError) -> None:
        if err.is_request is None:
            head = bytes(self._buf[:8])
            err.is_request = not head.startswith(b"SIP/")
        self.broken = err
        raise err

    def __iter__(self):
        while (ev := self.next_event()) is not None:
            yield ev


def is_keepalive(data: bytes) -> bool:
    """A CRLF keepalive (RFC 5626 4.4.1: "\\r\\n\\r\\n" ping, "\\r\\n" pong) or other
    whitespace between messages: nothing to parse."""
    return not data.strip()


def is_message(obj: object) -> bool:
    """True for a Request or Response (as opposed to a KeepAlive)."""
    return isinstance(obj, Message)
