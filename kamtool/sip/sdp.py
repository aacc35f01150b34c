"""SDP bodies (RFC 4566) as Kamailio's SDP parser reads them, for ``KSR.sdpops``.

A body is ``application/sdp`` or ``multipart/mixed`` with ``application/sdp`` parts; each
SDP is one session (``v=``, ``o=``, then ``m=`` streams). Everything keeps its offsets in
the body, so that an operation is a list of spans to delete (:func:`delete_spans`).

Kamailio's rules kept, since scripts are written against them: a session needs ``v=``,
``o=`` with a session version and at least one ``m=``; each stream needs a ``c=`` of its
own or the session's; ``a=`` lines of a stream are read only when its ``m=`` line lists
payloads; a line is found by its first letter and ``=`` at a line start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class SdpError(ValueError):
    """The body is not an SDP this parser accepts (Kamailio's parse_sdp() < 0)."""


@dataclass
class Stream:
    """One ``m=`` description: its fields, and its span in the body (``m=`` up to the
    next ``m=`` or the end of the SDP)."""

    media: str
    port: str
    transport: str
    payloads: list[str]
    start: int
    end: int
    payloads_at: int  # offset of the first payload in the m= line (or of its end)
    sendrecv: str = ""
    rtpmap: dict[str, str] = field(default_factory=dict)  # payload id -> encoding name


@dataclass
class Session:
    """One SDP (a whole ``application/sdp`` body or one part of a multipart one)."""

    start: int
    end: int
    sess_version: str
    family: int  # 4 or 6 from the session's c= line; 0 without one
    streams: list[Stream]


_LINE_END = re.compile(r"\r?\n|\r")
_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)


def lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The ``x=`` lines between two offsets: (start of the line, end with its line break)."""
    out = []
    pos = start
    while pos < end:
        m = _LINE_END.search(text, pos, end)
        stop = m.end() if m else end
        if stop - pos >= 2 and text[pos + 1] == "=":
            out.append((pos, stop))
        pos = stop
    return out


def line_text(text: str, span: tuple[int, int]) -> str:
    """A line without its line break."""
    return text[span[0] : span[1]].rstrip("\r\n")


def _family(value: str) -> int:
    """4 or 6 from ``IN IP4 addr``; raises on anything else (as extract_mediaip)."""
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad connection data: {value!r}")
    return 4 if parts[1] == "IP4" else 6


def parse_session(text: str, start: int, end: int) -> Session:
    """The session between two offsets of ``text``."""
    found = lines(text, start, end)
    kinds = [text[s] for s, _ in found]
    try:
        v = kinds.index("v")
        o = kinds.index("o", v)
        m = kinds.index("m", o)
    except ValueError:
        raise SdpError("an SDP needs v=, o= and m= lines") from None
    origin = line_text(text, found[o])[2:].split()
    if len(origin) < 6:
        raise SdpError("o= has no session version or address")
    _family(" ".join(origin[3:6]))
    head = found[o + 1 : m]
    session_c = next((line_text(text, s)[2:] for s in head if text[s[0]] == "c"), None)
    family = _family(session_c) if session_c is not None else 0
    m_at = [i for i in range(m, len(found)) if kinds[i] == "m"]
    streams = []
    for n, i in enumerate(m_at):
        last = m_at[n + 1] if n + 1 < len(m_at) else len(found)
        body = found[i + 1 : last]
        stream_end = found[last][0] if last < len(found) else end
        if not any(text[s] == "c" for s, _ in body):
            if session_c is None:
                raise SdpError("a stream without c= in a session without c=")
        else:
            _family(next(line_text(text, s)[2:] for s in body if text[s[0]] == "c"))
        streams.append(_stream(text, found[i], body, stream_end))
    return Session(start, end, origin[2], family, streams)


def _stream(text: str, mline: tuple[int, int], body: list[tuple[int, int]], end: int) -> Stream:
    value = line_text(text, mline)
    fields = value[2:].split()
    if len(fields) < 3:
        raise SdpError(f"m= needs media, port and transport: {value!r}")
    third = re.match(r"m=\s*\S+\s+\S+\s+\S+[ \t]*", value)
    at = mline[0] + (third.end() if third else len(value))
    stream = Stream(fields[0], fields[1], fields[2], fields[3:], mline[0], end, at)
    if stream.payloads:  # Kamailio reads a stream's attributes only when it has payloads
        for span in body:
            attr = line_text(text, span)
            low = attr.lower()
            if low[:10] in ("a=sendrecv", "a=recvonly", "a=sendonly", "a=inactive"):
                stream.sendrecv = low[2:10]
            elif low.startswith("a=rtpmap:"):
                pt, _, rest = attr[9:].partition(" ")
                stream.rtpmap.setdefault(pt, rest.strip().split("/", 1)[0])
    return stream


def sessions(content_type: str | None, body: str) -> list[Session]:
    """Every SDP of a body: [] without a body; SdpError when it is not SDP."""
    if not body:
        return []
    if content_type is None:
        raise SdpError("a body without Content-Type")
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/sdp":
        return [parse_session(body, 0, len(body))]
    if ctype != "multipart/mixed":
        raise SdpError(f"not an SDP body: {ctype}")
    m = _BOUNDARY.search(content_type)
    if m is None:
        raise SdpError("multipart/mixed without boundary")
    return [parse_session(body, s, e) for s, e in sdp_parts(body, m.group(1) or m.group(2))]


def sdp_parts(body: str, boundary: str) -> list[tuple[int, int]]:
    """The (start, end) of each ``application/sdp`` part's own body in a multipart body."""
    delimiter = "--" + boundary
    out = []
    starts = [m.end() for m in re.finditer(re.escape(delimiter), body)]
    for n, at in enumerate(starts[:-1]):
        stop = starts[n + 1] - len(delimiter)
        head_end = body.find("\r\n\r\n", at, stop)
        if head_end < 0:
            continue
        headers = body[at:head_end].lower()
        if re.search(r"^content-type\s*:\s*application/sdp", headers, re.M):
            end = stop - 2 if body[stop - 2 : stop] == "\r\n" else stop
            out.append((head_end + 4, end))
    return out


def delete_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the spans (overlapping or repeated spans delete once)."""
    keep = []
    pos = 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        keep.append(text[pos : max(start, pos)])
        pos = end
    keep.append(text[pos:])
    return "".join(keep)
