"""RTPEngine's ng control protocol, sans-IO: messages, flags, node choice, what to do when.

An ng datagram is ``COOKIE SP BENCODED-DICT``; the reply repeats the cookie, which is
how a client matches replies to (retransmitted) requests. This module builds and reads
those datagrams, turns a Kamailio-style flag string (``"replace-origin ICE=remove
RTP/AVP"``) into the ng dictionary, picks an RTPEngine from a weighted set by Call-ID
with failover, and decides, as Kamailio's ``rtpengine_manage()`` does, whether a SIP
message calls for an offer, an answer or a delete. Time is passed in (``now``); the
asyncio client is :mod:`kamtool.proxy.rtpengine`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from .bencode import BencodeError, decode, encode
from .message import Message, Request, Response

__all__ = [
    "NgError",
    "NgNode",
    "NgSet",
    "build_params",
    "has_sdp",
    "manage_action",
    "parse_flags",
    "parse_nodes",
    "parse_reply",
    "request_bytes",
    "retransmit_schedule",
]

# the transport protocols RTPEngine accepts as a bare flag word (Kamailio passes them so)
TRANSPORT_PROTOCOLS = frozenset(
    {"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"}
)
# words whose "-suffix" goes into a list under the prefix: replace-origin -> replace: [origin]
LIST_PREFIXES = ("replace-", "rtcp-mux-", "SDES-")
# key=value flags whose values collect into a list
LIST_KEYS = frozenset({"direction", "received-from", "replace", "rtcp-mux", "SDES", "flags"})
# flag entries Kamailio sends only with an offer or answer
SDP_ONLY = ("SDES", "codec", "direction", "replace", "rtcp-mux")
CODEC_VERBS = ("strip", "offer", "transcode", "mask", "except", "accept", "consume", "set")


class NgError(ValueError):
    """A malformed node list, flag string or ng reply."""


# -- datagrams ------------------------------------------------------------------------------------
def request_bytes(cookie: str, params: dict[str, Any]) -> bytes:
    """One ng request datagram. ``params`` must hold ``command``."""
    if not cookie or any(c.isspace() for c in cookie):
        raise NgError("an ng cookie is one non-empty word")
    if "command" not in params:
        raise NgError("an ng request needs a command")
    return cookie.encode() + b" " + encode(params)


def _text(value: Any) -> Any:
    """Reply values with byte strings turned into str (ng strings are UTF-8 text)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {k.decode("utf-8", "replace"): _text(v) for k, v in value.items()}
    return value


def parse_reply(data: bytes) -> tuple[str, dict[str, Any]]:
    """``(cookie, reply)`` of an ng reply datagram; keys and strings decoded to str."""
    cookie, sep, rest = bytes(data).partition(b" ")
    if not sep or not cookie:
        raise NgError("an ng reply is 'COOKIE DICT'")
    try:
        value = decode(rest)
    except BencodeError as e:
        raise NgError(f"bad ng reply: {e}") from None
    if not isinstance(value, dict):
        raise NgError("an ng reply body is a dictionary")
    reply = _text(value)
    if "result" not in reply:
        raise NgError("an ng reply has no result")
    return cookie.decode("ascii", "replace"), reply


def retransmit_schedule(timeout: float, retries: int) -> list[float]:
    """How long to wait after each send: Kamailio's rtpengine sends a request
    ``rtpengine_retr`` times, waiting ``rtpengine_tout_ms`` after each, before it gives
    the node up. ``retries`` counts the sends (at least one)."""
    if timeout <= 0:
        raise NgError("the ng timeout must be positive")
    return [float(timeout)] * max(1, int(retries))


# -- flags ----------------------------------------------------------------------------------------
def _add(out: dict[str, Any], key: str, value: str) -> None:
    if key in LIST_KEYS:
        out.setdefault(key, []).append(value)
    else:
        out[key] = value


def parse_flags(flags: str) -> dict[str, Any]:
    """The ng dictionary entries a Kamailio rtpengine flag string stands for.

    ``replace-origin`` -> ``replace: [origin]``; ``rtcp-mux-demux`` -> ``rtcp-mux:
    [demux]``; ``ICE=remove`` -> ``ICE: remove``; ``RTP/SAVPF`` -> ``transport-protocol``;
    ``direction=a`` (repeatable) -> ``direction: [a, ...]``; ``codec-strip-PCMA`` ->
    ``codec: {strip: [PCMA]}``; other ``key=value`` -> ``key: value``; other words ->
    ``flags: [word]``.
    """
    out: dict[str, Any] = {}
    for word in flags.split():
        key, eq, value = word.partition("=")
        if word in TRANSPORT_PROTOCOLS:
            out["transport-protocol"] = word
        elif not eq and word.startswith("codec-"):
            verb, _, codec = word[len("codec-") :].partition("-")
            if verb not in CODEC_VERBS or not codec:
                raise NgError(f"bad codec flag {word!r}")
            out.setdefault("codec", {}).setdefault(verb, []).append(codec)
        elif not eq and word.startswith(LIST_PREFIXES):
            prefix = next(p for p in LIST_PREFIXES if word.startswith(p))
            rest = word[len(prefix) :]
            if not rest:
                raise NgError(f"bad flag {word!r}")
            out.setdefault(prefix[:-1], []).append(rest)
        elif eq:
            if not key or not value:
                raise NgError(f"bad flag {word!r}")
            _add(out, key, value)
        else:
            out.setdefault("flags", []).append(word)
    return out


# -- SIP side -------------------------------------------------------------------------------------
def has_sdp(msg: Message) -> bool:
    """Whether ``msg`` carries an SDP body (Content-Type application/sdp)."""
    if not msg.body:
        return False
    ctype = (msg.content_type or "").split(";", 1)[0].strip().lower()
    return ctype == "application/sdp"


def _via_branch(msg: Message, mode: str) -> str | None:
    """The branch the ``via-branch=`` flag names: ``1`` the first Via, ``2`` the second,
    ``auto`` the first of a request and the second of a reply (the sender's, below
    the proxy's own)."""
    if mode == "auto":
        mode = "1" if isinstance(msg, Request) else "2"
    if mode not in ("1", "2"):
        raise NgError(f"via-branch={mode}: 1, 2 or auto")
    vias = msg.vias
    i = int(mode) - 1
    return vias[i].branch if len(vias) > i else None


def build_params(
    command: str, msg: Message, flags: str = "", source: str | None = None
) -> dict[str, Any]:
    """The ng request for ``command`` about ``msg``, as Kamailio's rtpengine module
    builds it: the parsed ``flags``, Call-ID, From tag, the To tag (offer and answer;
    a delete only with the ``to-tag`` flag, else it ends the whole call), the SDP,
    ``received-from`` (``source``: the address the message came from) and ``supports``.
    ``via-branch=1|2|auto`` adds a Via branch; ``call-id=``/``from-tag=``/``to-tag=``
    override the message's."""
    params: dict[str, Any] = parse_flags(flags)
    words = params.get("flags", [])
    want_to_tag = "to-tag" in words
    if want_to_tag:
        words.remove("to-tag")
        if not words:
            del params["flags"]
    via_mode = params.pop("via-branch", None)
    params["command"] = command
    params.setdefault("call-id", msg.call_id or "")
    if msg.from_tag:
        params.setdefault("from-tag", msg.from_tag)
    if msg.to_tag and (command != "delete" or want_to_tag):
        params.setdefault("to-tag", msg.to_tag)
    if via_mode is not None:
        branch = _via_branch(msg, via_mode)
        if branch:
            params["via-branch"] = branch
    if command in ("offer", "answer"):
        if not has_sdp(msg):
            raise NgError(f"{command} needs a message with an SDP body")
        params["sdp"] = msg.body
    else:
        for key in SDP_ONLY:  # about rewriting SDP: Kamailio sends them with one only
            params.pop(key, None)
    if source:
        params.setdefault("received-from", ["IP6" if ":" in source else "IP4", source])
    params.setdefault("supports", ["load limit"])
    if not params["call-id"]:
        raise NgError("the message has no Call-ID")
    return params


def manage_action(msg: Message, request_had_sdp: bool = True) -> str | None:
    """What ``rtpengine_manage()`` does with ``msg``: ``"offer"``, ``"answer"``,
    ``"delete"`` or None.

    Requests: INVITE/UPDATE with SDP offer; ACK/PRACK with SDP answer (a late offer's
    answer); BYE and CANCEL delete. Replies to INVITE/UPDATE: a 1xx/2xx with SDP answers
    (or offers, when the request had no SDP: ``request_had_sdp=False``); a final >= 300
    to INVITE deletes.
    """
    if isinstance(msg, Request):
        method = msg.method
        if method in ("BYE", "CANCEL"):
            return "delete"
        if method in ("INVITE", "UPDATE") and has_sdp(msg):
            return "offer"
        if method in ("ACK", "PRACK") and has_sdp(msg):
            return "answer"
        return None
    if isinstance(msg, Response):
        cseq = msg.cseq
        method = cseq.method if cseq is not None else ""
        if method not in ("INVITE", "UPDATE"):
            return None
        if msg.status >= 300:
            return "delete" if method == "INVITE" else None
        if msg.status > 100 and has_sdp(msg):
            return "answer" if request_had_sdp else "offer"
    return None


# -- nodes ----------------------------------------------------------------------------------------
@dataclass
class NgNode:
    """One RTPEngine control socket (``udp:HOST:PORT`` with a weight)."""

    url: str
    host: str
    port: int
    weight: int = 1
    disabled_until: float = 0.0  # failed: left alone until then
    manual: bool = False  # disabled by hand (rtpengine.enable 0): until enabled again

    def usable(self, now: float) -> bool:
        return not self.manual and now >= self.disabled_until

    def as_dict(self, now: float) -> dict[str, Any]:
        """The fields ``rtpengine.show`` gives for this node (``recheck_ticks`` -1: off
        by hand until enabled; else the seconds left before a failed node is tried)."""
        return {
            "url": self.url,
            "weight": self.weight,
            "disabled": 0 if self.usable(now) else 1,
            "recheck_ticks": -1 if self.manual else max(0, round(self.disabled_until - now)),
        }


def parse_nodes(spec: str) -> list[NgNode]:
    """Nodes of a Kamailio ``rtpengine_sock`` value: ``"udp:IP:PORT=W udp:[::1]:PORT"``."""
    nodes: list[NgNode] = []
    for item in spec.split():
        url, eq, w = item.partition("=")
        try:
            weight = int(w) if eq else 1
        except ValueError:
            raise NgError(f"bad weight in {item!r}") from None
        if weight < 1:
            raise NgError(f"the weight in {item!r} must be at least 1")
        scheme, colon, rest = url.partition(":")
        if not colon or scheme not in ("udp", "udp6"):
            raise NgError(f"{url!r}: only udp:HOST:PORT control sockets are supported")
        host, colon, port_text = rest.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise NgError(f"{url!r} is not udp:HOST:PORT")
        nodes.append(NgNode(url, host, int(port_text), weight))
    if not nodes:
        raise NgError("no RTPEngine control socket given")
    if len({n.url for n in nodes}) != len(nodes):
        raise NgError("an RTPEngine control socket is listed twice")
    return nodes


def _weighted(nodes: list[NgNode], h: int) -> NgNode | None:
    total = sum(n.weight for n in nodes)
    if not total:
        return None
    cut = h % total
    for n in nodes:
        if cut < n.weight:
            return n
        cut -= n.weight
    return None  # pragma: no cover - cut < total


@dataclass
class NgSet:
    """A weighted set of RTPEngines. A call (Call-ID) keeps to one node while that node
    is usable, so its offer, answer and delete meet the same session; when it fails the
    call moves, by the same weighted hash, to one of the usable nodes."""

    nodes: list[NgNode]
    disable_for: float = 60.0  # Kamailio's rtpengine_disable_tout default
    _by_url: dict[str, NgNode] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_url = {n.url: n for n in self.nodes}

    @classmethod
    def from_spec(cls, spec: str, disable_for: float = 60.0) -> NgSet:
        return cls(parse_nodes(spec), disable_for)

    def node(self, url: str) -> NgNode:
        try:
            return self._by_url[url]
        except KeyError:
            raise NgError(f"no RTPEngine {url!r} in the set") from None

    def candidates(self, call_id: str, now: float) -> list[NgNode]:
        """Usable nodes to try for ``call_id``, best first (empty: none is usable)."""
        h = zlib.crc32(call_id.encode())
        usable = [n for n in self.nodes if n.usable(now)]
        order: list[NgNode] = []
        first = _weighted(self.nodes, h)
        if first is not None and first.usable(now):
            order.append(first)
        while usable:
            rest = [n for n in usable if n not in order]
            pick = _weighted(rest, h)
            if pick is None:
                break
            order.append(pick)
            usable = rest
        return order

    def failed(self, node: NgNode, now: float) -> None:
        """``node`` did not answer: leave it alone for ``disable_for`` seconds."""
        node.disabled_until = now + self.disable_for

    def answered(self, node: NgNode) -> None:
        node.disabled_until = 0.0

    def select(self, url: str) -> list[NgNode]:
        """The nodes an RPC names: one URL, or ``all``."""
        return list(self.nodes) if url == "all" else [self.node(url)]

    def enable(self, url: str, on: bool) -> None:
        """Switch a node on or off by hand (``rtpengine.enable`` after its ping)."""
        n = self.node(url)
        n.manual = not on
        if on:
            n.disabled_until = 0.0
