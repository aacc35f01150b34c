"""``KSR.sdpops``: Kamailio's sdpops module for KEMI scripts — look into the SDP of the
message in hand (``sdp_with_media``, ``sdp_with_codecs_by_name``, ``sdp_transport`` ...)
and edit it (``remove_codecs_by_name``, ``keep_codecs_by_id``, ``remove_media``,
``remove_line_by_prefix`` ...), with 5.6's KEMI return codes. Those are the module's
internal functions' codes, not its cfg functions': the codec edits answer 0 when done,
the counting ones the number of streams or lines removed, and -1 is a body that is not
SDP (or none).

Edits show at once in kamtool (Kamailio applies them as the message leaves), as for
``KSR.textops``. Codec names map to payload types as sdpops maps them: a name of RFC
3551's static table (PCMU, PCMA, G729 ...) to its static numbers only, any other name to
the dynamic numbers the SDP's ``a=rtpmap`` lines give it.
"""

from __future__ import annotations

import logging
from typing import Any

from kamtool.proxy.ksr import pv
from kamtool.proxy.ksr.context import state
from kamtool.proxy.ksr.pvspec import parse as parse_pv
from kamtool.sip.sdp import (
    SdpError,
    Session,
    Stream,
    delete_spans,
    line_text,
    lines,
    sessions,
)

__all__ = ["sdpops_functions"]

log = logging.getLogger("kamtool.proxy.ksr.sdpops")

# RFC 3551's static payload types by encoding name (sdpops' table; CN is 13)
STATIC_IDS = {
    "pcmu": ["0"], "gsm": ["3"], "g723": ["4"], "dvi4": ["5", "6", "16", "17"],
    "lpc": ["7"], "pcma": ["8"], "g722": ["9"], "l16": ["10", "11"], "qcelp": ["12"],
    "cn": ["13"], "mpa": ["14"], "g728": ["15"], "g729": ["18"],
}  # fmt: skip
_CODEC_ATTRS = ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")  # the lines that name a payload type
_MAX_IDS = 16  # ids taken per dynamic codec name, as sdpops


def _read() -> tuple[str, list[Session]]:
    """The body as text (one character per octet) and its SDP sessions; SdpError when the
    body is not SDP, [] without a body."""
    msg = state.ctx.msg
    body = (msg.body or b"").decode("latin-1")
    return body, sessions(msg.headers.get("content-type"), body)


def _write(body: str, spans: list[tuple[int, int]]) -> None:
    if spans:
        state.ctx.msg.body = delete_spans(body, spans).encode("latin-1")


def _tokens(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _streams(found: list[Session], media: str = "") -> list[Stream]:
    media = str(media or "").lower()
    return [s for ses in found for s in ses.streams if not media or s.media.lower() == media]


def _ids_of(found: list[Session], names: str) -> list[str]:
    """The payload ids of codec names (sdpops_build_ids_list)."""
    ids: list[str] = []
    for name in _tokens(names):
        static = STATIC_IDS.get(name.lower())
        if static is not None:
            ids += static
            continue
        dynamic = [pt for s in _streams(found) for pt, enc in s.rtpmap.items()
                   if enc.lower() == name.lower()]  # fmt: skip
        ids += dynamic[:_MAX_IDS]
    return ids


def _remove_ids(body: str, stream: Stream, ids: list[str]) -> list[tuple[int, int]]:
    """Spans that take payload ids out of a stream's m= line and its codec lines."""
    spans = []
    line_end = stream.payloads_at
    while line_end < stream.end and body[line_end] not in "\r\n":
        line_end += 1
    for pt in ids:
        pos = stream.payloads_at
        for token in body[stream.payloads_at : line_end].split(" "):
            if token == pt:  # the first listing, with the space before it
                spans.append((pos - 1, pos + len(pt)))
                break
            pos += len(token) + 1
        for start, end in lines(body, stream.start, stream.end):
            text = body[start:end]
            for prefix in _CODEC_ATTRS:
                cut = len(prefix)
                if text[:cut].lower() == prefix and text[cut:].startswith(pt + " "):
                    spans.append((start, end))
    return spans


def _codec_edit(by_name: bool, keep: bool) -> Any:
    """One of the four codec edits: remove or keep, codecs given by id or by name (a name
    list naming no codec of the SDP is -1, as sdpops; an id list is taken as it is)."""

    def edit(codecs: str, media: str = "") -> int:
        try:
            body, found = _read()
        except SdpError:
            return -1
        ids = _ids_of(found, codecs) if by_name else _tokens(codecs)
        if not found or (by_name and not ids):
            return -1
        spans = []
        for s in _streams(found, media):
            drop = [pt for pt in s.payloads if pt not in ids] if keep else ids
            spans += _remove_ids(body, s, drop)
        _write(body, spans)
        return 0

    edit.__name__ = f"{'keep' if keep else 'remove'}_codecs_by_{'name' if by_name else 'id'}"
    return edit


def remove_line_by_prefix(prefix: str, media: str = "") -> int:
    """The number of lines starting with ``prefix`` removed (in ``media``'s streams only
    when given); -1 without SDP."""
    prefix = str(prefix)
    try:
        body, found = _read()
    except SdpError:
        return -1
    if not found or not prefix:
        return -1
    if media:
        ranges = [(s.start, s.end) for s in _streams(found, media)]
    else:  # the SDP (of a multipart body, the last SDP part, as Kamailio's raw_sdp)
        ranges = [(found[-1].start, found[-1].end)]
    spans = [sp for a, b in ranges for sp in lines(body, a, b) if body.startswith(prefix, sp[0])]
    _write(body, spans)
    return len(spans)


def _drop_streams(match: Any) -> int:
    try:
        body, found = _read()
    except SdpError:
        return -1
    spans = [(s.start, s.end) for ses in found for s in ses.streams if match(s)]
    _write(body, spans)
    return len(spans)


def remove_media(media: str) -> int:
    """The number of ``m=<media>`` streams removed (0 none); -1 not SDP."""
    return _drop_streams(lambda s: s.media.lower() == str(media).lower())


def _with(test: Any) -> int:
    try:
        _, found = _read()
    except SdpError:
        return -1
    return 1 if any(test(s) for s in _streams(found)) else 0


def sdp_with_media(media: str) -> int:
    """1 a stream of that media type, 0 none, -1 not SDP."""
    return _with(lambda s: s.media.lower() == str(media).lower())


def _active(stream: Stream) -> bool:
    digits = stream.port.split("/", 1)[0]
    port = int(digits) if digits.isdigit() else 0
    return port != 0 and stream.sendrecv != "inactive"


def sdp_with_active_media(media: str) -> int:
    """1 a stream of that type with a port and not ``a=inactive``, 0 none, -1 not SDP."""
    return _with(lambda s: s.media.lower() == str(media).lower() and _active(s))


def _with_transport(transport: str, like: bool) -> int:
    want = str(transport)
    if like:
        rc = _with(lambda s: want in s.transport)
    else:
        rc = _with(lambda s: s.transport.lower() == want.lower())
    return 1 if rc > 0 else -1


def sdp_with_transport(transport: str) -> int:
    return _with_transport(transport, False)


def sdp_with_transport_like(transport: str) -> int:
    return _with_transport(transport, True)


def _with_ids(found: list[Session], ids: list[str]) -> int:
    """sdpops' count: 0 none of the ids in any stream, 1 each in every stream, 2 some."""
    hit = miss = 0
    for s in _streams(found):
        for pt in ids:
            if pt in s.payloads:
                hit = 1
            else:
                miss = 1
    return hit + (miss if hit else 0)


def sdp_with_codecs_by_id(codecs: str) -> int:
    try:
        _, found = _read()
    except SdpError:
        return -1
    return _with_ids(found, _tokens(codecs)) if found else -1


def sdp_with_codecs_by_name(codecs: str) -> int:
    """1 all found, 2 some, -1 none (or not SDP, or no name known), -2 an error."""
    try:
        _, found = _read()
    except SdpError:
        return -1
    ids = _ids_of(found, codecs)
    if not found or not ids:
        return -1
    rc = _with_ids(found, ids)
    return rc - 1 if rc <= 0 else rc


def _avp(name: str) -> bool:
    try:
        return parse_pv(str(name)).pv == "avp"
    except ValueError:
        return False


def sdp_get(avp: str) -> int:
    """The SDP into an AVP: 1, -2 no SDP, -1 not SDP or not an AVP."""
    if not _avp(avp):
        return -1
    try:
        body, found = _read()
    except SdpError:
        return -1
    if not found:
        return -2
    last = found[-1]  # of a multipart body, the last SDP part (Kamailio's raw_sdp)
    return 1 if pv.sets(avp, body[last.start : last.end]) else -1


def sdp_transport(avp: str) -> int:
    """The transport all streams share into an AVP: 1, -2 they differ, -1 not SDP."""
    if not _avp(avp):
        return -1
    try:
        _, found = _read()
    except SdpError:
        return -1
    kinds = [s.transport for s in _streams(found)]
    if any(k.lower() != kinds[0].lower() for k in kinds):
        return -2
    if kinds and not pv.sets(avp, kinds[0]):
        return -1
    return 1


def sdp_get_line_startswith(avp: str, start: str) -> int:
    """The first SDP line starting with ``start`` into an AVP: 1, -1 none, -2 no SDP."""
    start = str(start)
    if not start or not str(avp):
        return -1
    try:
        body, found = _read()
    except SdpError:
        return -1
    if not found:
        return -2
    if not _avp(avp):
        return -1
    for span in lines(body, found[-1].start, len(body)):
        if body.startswith(start, span[0]):
            return 1 if pv.sets(avp, line_text(body, span)) else -1
    return -1


def sdp_content() -> int:
    """1 the body is (or holds) SDP, -1 not."""
    try:
        return 1 if _read()[1] else -1
    except SdpError:
        return -1


def sdp_content_flags(flags: int) -> int:
    """``flags`` 0: :func:`sdp_content`; else judged by Content-Type without parsing."""
    if not int(flags):
        return sdp_content()
    msg = state.ctx.msg
    if not msg.body:
        return -1
    ctype = msg.headers.get("content-type")
    if ctype is None:
        return 1  # sdpops: no Content-Type means application/sdp
    kind = ctype.split(";", 1)[0].strip().lower()
    if kind == "application/sdp":
        return 1
    if kind == "multipart/mixed" and b"application/sdp" in msg.body.lower():
        return 1
    return -1


def sdp_with_ice() -> int:
    """1 the body has an ``a=candidate`` (ICE), -1 not."""
    return 1 if b"a=candidate" in (state.ctx.msg.body or b"") else -1


def sdp_print(level: int) -> int:
    """Log the streams at ``level`` (Kamailio's: 1 L_INFO ... 3 L_DBG, <= 0 errors)."""
    try:
        _, found = _read()
    except SdpError:
        return -1
    py_level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        int(level), logging.DEBUG if int(level) > 1 else logging.ERROR
    )
    for n, ses in enumerate(found):
        for s in ses.streams:
            log.log(py_level, "sdp session %d: m=%s %s %s payloads=%s %s", n, s.media, s.port,
                    s.transport, " ".join(s.payloads), s.sendrecv or "sendrecv")  # fmt: skip
    return 1


def sdpops_functions() -> dict[str, Any]:
    """``KSR.sdpops`` (5.6's KEMI exports)."""
    return dict(
        remove_codecs_by_name=_codec_edit(True, False),
        remove_codecs_by_id=_codec_edit(False, False),
        keep_codecs_by_name=_codec_edit(True, True), keep_codecs_by_id=_codec_edit(False, True),
        remove_line_by_prefix=remove_line_by_prefix, remove_media=remove_media,
        sdp_content=sdp_content, sdp_content_flags=sdp_content_flags, sdp_with_ice=sdp_with_ice,
        sdp_with_media=sdp_with_media, sdp_with_active_media=sdp_with_active_media,
        sdp_with_codecs_by_id=sdp_with_codecs_by_id,
        sdp_with_codecs_by_name=sdp_with_codecs_by_name, sdp_get=sdp_get,
        sdp_transport=sdp_transport, sdp_with_transport=sdp_with_transport,
        sdp_with_transport_like=sdp_with_transport_like,
        sdp_get_line_startswith=sdp_get_line_startswith, sdp_print=sdp_print,
    )  # fmt: skip
