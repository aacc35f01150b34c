"""Topology hiding with Kamailio's ``topoh`` semantics, sans-IO.

A proxy at the edge rewrites what would tell one side about the other:

- **Via**: every Via below the proxy's own becomes ``SIP/2.0/UDP MASK_IP;branch=
  z9hG4bKsr-<masked Via>``; replies coming back carry them, and they are restored before
  the reply travels on (RFC 3261 responses route by Via).
- **Contact**: ``<sip:MASK_IP;line=sr-<masked URI>>`` (header parameters kept), so the
  other side's in-dialog requests target the mask; their Request-URI is restored.
- **Record-Route**: in a request, the entries after the proxy's own (the sender's side);
  in a reply, the entries before it (the receiver's far side). Route entries built from
  them in later requests are restored. The proxy's own entries are never touched: they
  are how in-dialog requests find the proxy.
- **Call-ID** (``mask_callid``): ``!!:<masked>`` towards the downstream side (where the
  initial request went), the original towards upstream.

From and To are identities, not topology: they are left alone (as topoh does; Kamailio
rewrites them with uac_replace_from/to when needed).

Direction (``downstream``): an initial request and an in-dialog request from the
caller's side go downstream (Kamailio's rr module tells it by the ``ftag`` of the
proxy's Route). A proxy either passes it to the four steps itself, or calls the two
hooks :meth:`TopoHiding.received` and :meth:`TopoHiding.sent` on every message, which
carry it in a ``th`` Via parameter while the proxy holds the message: on the sender's
Via of a received request (responses copy it; it travels masked in forwarded requests
and is removed before a reply leaves) and on the proxy's own Via of a sent request (the
replies bring it back). Kamailio does the same with its ``TH`` Via cookie (``div``,
``dcv``, ``ucv``): kamtool writes the same values, so Kamailio finds its cookie in a
Via kamtool masked.

Masking is Kamailio's: base64 over an alphabet shuffled by ``mask_key`` (``.`` and ``-``
for ``+`` and ``/``, ``*`` padding), so for one key kamtool's masked values equal
Kamailio's and either can restore the other's (an edge can move from one to the other
with dialogs in progress). It is an obfuscation that hides addresses from reading, not
encryption: whoever knows or guesses the key reads them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ParseError
from .headers import NameAddr, parse_name_addr_list, parse_via_list
from .message import Message, Request
from .uri import SipURI, parse_uri

__all__ = ["TopoHiding"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"
_PAD = "*"

OwnUri = Callable[[SipURI], bool]
# Kamailio's cookie, on a Via while the proxy holds the message (see the hooks): d or u
# (downstream, upstream), i or c (initial, in-dialog), v (on a Via)
DIR_PARAM = "th"


def _crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected CCITT polynomial, initial and final value 0xFFFF): what
    Kamailio's ``crcitt_string`` computes."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _alphabet(key: bytes) -> str:
    """The base64 alphabet topoh derives from its key: a swap shuffle of
    :data:`_ALPHABET` driven by MD5(key key) (as four little-endian words), the key's
    CRC and its bytes taken as C ``char`` (signed), so masks equal Kamailio's."""
    words = struct.unpack("<4I", hashlib.md5(key + key, usedforsecurity=False).digest())
    crc = _crc16_x25(key)
    n = len(key)
    table = list(_ALPHABET)
    for last in range(64, 1, -1):
        pick = crc + last + n
        char = key[pick % n]
        char = char - 256 if char > 127 else char
        r = ((words[pick % 4] + char) & 0xFFFFFFFF) % last
        table[r], table[last - 1] = table[last - 1], table[r]
    return "".join(table)


@dataclass
class TopoHiding:
    """Kamailio's topoh parameters and the mask/unmask steps of a proxy."""

    mask_key: str
    mask_ip: str = "127.0.0.8"  # topoh's default mask_ip
    mask_callid: bool = False
    uparam_name: str = "line"
    uparam_prefix: str = "sr-"
    vparam_prefix: str = "z9hG4bKsr-"
    callid_prefix: str = "!!:"
    skip_3xx_contact: bool = False  # Kamailio's mask_mode bit 1; off by default as there
    _enc: str = field(init=False, repr=False)
    _dec: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.mask_key:
            raise ValueError("topoh needs a mask key")
        self._enc = _alphabet(self.mask_key.encode())
        self._dec = {c: i for i, c in enumerate(self._enc)}

    # -- the value codec --------------------------------------------------------------------------
    def encode(self, text: str, prefix: str = "") -> str:
        """``prefix`` + the masked form of ``text``."""
        data = text.encode("utf-8", "surrogateescape")
        out = [prefix]
        for i in range(0, len(data), 3):
            chunk = data[i : i + 3]
            block = int.from_bytes(chunk.ljust(3, b"\0"), "big")
            chars = [self._enc[(block >> s) & 0x3F] for s in (18, 12, 6, 0)]
            out.append("".join(chars[: len(chunk) + 1]) + _PAD * (3 - len(chunk)))
        return "".join(out)

    def decode(self, value: str, prefix: str = "") -> str:
        """The text :meth:`encode` masked; ParseError when ``value`` is not one."""
        if not value.startswith(prefix):
            raise ParseError(f"not a masked value: {value[:40]!r}")
        body = value[len(prefix) :]
        if not body or len(body) % 4:
            raise ParseError("masked value of a bad length")
        out = bytearray()
        for i in range(0, len(body), 4):
            quad = body[i : i + 4]
            n = 4 - len(quad.rstrip(_PAD))  # padding characters
            if n > 2 or _PAD in quad.rstrip(_PAD) or (n and i + 4 != len(body)):
                raise ParseError("bad padding in a masked value")
            block = 0
            for c in quad[: 4 - n]:
                v = self._dec.get(c)
                if v is None:
                    raise ParseError("bad character in a masked value")
                block = (block << 6) | v
            block <<= 6 * n
            out += block.to_bytes(3, "big")[: 3 - n]
        return bytes(out).decode("utf-8", "surrogateescape")

    # -- URIs, Vias, Call-ID ----------------------------------------------------------------------
    def mask_uri(self, uri: str) -> str:
        return f"sip:{self.mask_ip};{self.uparam_name}={self.encode(uri, self.uparam_prefix)}"

    def masked_uri(self, uri: object) -> str | None:
        """The original URI when ``uri`` is one of our masks, else None."""
        if not isinstance(uri, SipURI) or uri.host.lower() != self.mask_ip.lower():
            return None
        value = uri.params.get(self.uparam_name)
        if not value or not value.startswith(self.uparam_prefix):
            return None
        return self.decode(value, self.uparam_prefix)

    def _mask_addr(self, na: NameAddr) -> str:
        return str(NameAddr(self.mask_uri(str(na.uri)), na.display_name, dict(na.params)))

    def _unmask_addr(self, na: NameAddr) -> str:
        orig = self.masked_uri(na.uri)
        if orig is None:
            return str(na)
        return str(NameAddr(parse_uri(orig), na.display_name, dict(na.params)))

    def mask_via(self, via_text: str) -> str:
        return f"SIP/2.0/UDP {self.mask_ip};branch={self.encode(via_text, self.vparam_prefix)}"

    def _unmask_via(self, via_text: str) -> str:
        via = parse_via_list(via_text)[0]
        branch = via.branch or ""
        if via.host.lower() != self.mask_ip.lower() or not branch.startswith(self.vparam_prefix):
            return via_text
        return self.decode(branch, self.vparam_prefix)

    def _set_callid(self, msg: Message, mask: bool) -> None:
        cid = msg.call_id
        if not self.mask_callid or not cid:
            return
        if mask:
            msg.headers.set("Call-ID", self.encode(cid, self.callid_prefix))
        elif cid.startswith(self.callid_prefix):
            msg.headers.set("Call-ID", self.decode(cid, self.callid_prefix))

    # -- header lists -----------------------------------------------------------------------------
    @staticmethod
    def _rewrite(msg: Message, name: str, values: list[str]) -> None:
        """Replace every ``name`` field by one holding ``values`` (order kept)."""
        if values:
            msg.headers.set(name, ", ".join(values))

    def _addrs(self, msg: Message, name: str) -> list[NameAddr]:
        return [a for v in msg.headers.get_lines(name) for a in parse_name_addr_list(v, name)]

    def _contacts(self, msg: Message, mask: bool) -> None:
        addrs = self._addrs(msg, "Contact")
        if not addrs or any(a.is_star for a in addrs):
            return
        fix = self._mask_addr if mask else self._unmask_addr
        self._rewrite(msg, "Contact", [fix(a) for a in addrs])

    # -- the four steps of a proxy ----------------------------------------------------------------
    def mask_request(self, req: Request, own: OwnUri, downstream: bool) -> None:
        """An outgoing request (the proxy's Via on top, its Record-Route added)."""
        vias = [str(v) for v in req.vias]
        if len(vias) > 1:
            self._rewrite(req, "Via", vias[:1] + [self.mask_via(v) for v in vias[1:]])
        self._contacts(req, mask=True)
        rrs = self._addrs(req, "Record-Route")
        ours = [i for i, a in enumerate(rrs) if isinstance(a.uri, SipURI) and own(a.uri)]
        if ours:
            after = ours[-1] + 1  # a double Record-Route is two entries of ours
            out = [str(a) for a in rrs[:after]] + [self._mask_addr(a) for a in rrs[after:]]
            self._rewrite(req, "Record-Route", out)
        if downstream:
            self._set_callid(req, mask=True)

    def unmask_request(self, req: Request, downstream: bool) -> None:
        """An incoming in-dialog request: Request-URI, Route set and Call-ID restored."""
        orig = self.masked_uri(req.uri)
        if orig is not None:
            req.uri = orig
        routes = self._addrs(req, "Route")
        if routes:
            self._rewrite(req, "Route", [self._unmask_addr(a) for a in routes])
        if not downstream:
            self._set_callid(req, mask=False)

    def unmask_reply(self, resp: Message, downstream: bool) -> None:
        """An incoming reply to a request sent ``downstream`` (or not): Vias, Record-Route
        and Call-ID restored."""
        vias = resp.headers.get_all("Via")
        if len(vias) > 1:
            self._rewrite(resp, "Via", [self._unmask_via(v) for v in vias])
        rrs = self._addrs(resp, "Record-Route")
        if rrs:
            self._rewrite(resp, "Record-Route", [self._unmask_addr(a) for a in rrs])
        if downstream:
            self._set_callid(resp, mask=False)

    def mask_reply(self, resp: Message, own: OwnUri, downstream: bool) -> None:
        """An outgoing reply to a request that went ``downstream``: Contact, and the
        Record-Route entries before the proxy's own (the far side) masked."""
        rrs = self._addrs(resp, "Record-Route")
        ours = [i for i, a in enumerate(rrs) if isinstance(a.uri, SipURI) and own(a.uri)]
        if ours:
            first = ours[0]
            out = [self._mask_addr(a) for a in rrs[:first]] + [str(a) for a in rrs[first:]]
            self._rewrite(resp, "Record-Route", out)
        status = getattr(resp, "status", 0)
        if not (self.skip_3xx_contact and 300 <= status < 400):
            self._contacts(resp, mask=True)
        if not downstream:
            self._set_callid(resp, mask=True)

    # -- the hooks: every message in, every message out ------------------------------------------
    @staticmethod
    def _mark_top_via(msg: Message, downstream: bool) -> None:
        via = msg.top_via
        if via is not None:
            kind = "c" if msg.to_tag else "i"
            cookie = ("d" if downstream else "u") + kind + "v"
            msg.replace_top_via(via.with_params(**{DIR_PARAM: cookie}))

    def received(self, msg: Message, own: OwnUri) -> None:
        """A message just received: unmask what came back, note the direction."""
        if isinstance(msg, Request):
            downstream = self.direction(msg, own)
            if msg.to_tag:
                self.unmask_request(msg, downstream)
            self._mark_top_via(msg, downstream)
            return
        vias = msg.headers.get_all("Via")
        if len(vias) > 1:
            self._rewrite(msg, "Via", [vias[0]] + [self._unmask_via(v) for v in vias[1:]])
        top = msg.top_via
        mark = top.params.get(DIR_PARAM) if top is not None else None
        if mark is None:
            return  # not a reply to a request this hook sent
        rrs = self._addrs(msg, "Record-Route")
        if rrs:
            self._rewrite(msg, "Record-Route", [self._unmask_addr(a) for a in rrs])
        if mark.startswith("d"):
            self._set_callid(msg, mask=False)

    def sent(self, msg: Message, own: OwnUri) -> None:
        """A message about to be sent: mask it for the side it goes to."""
        if isinstance(msg, Request):
            vias = msg.vias
            mark = vias[1].params.get(DIR_PARAM) if len(vias) > 1 else None
            if mark is None:
                # a request of the proxy's own: ACK and CANCEL follow the INVITE
                # downstream; anything else (a dialog's BYE) is left as it is, as topoh does
                if msg.method not in ("ACK", "CANCEL"):
                    return
                self._mark_top_via(msg, True)
                self._set_callid(msg, mask=True)
                return
            self._mark_top_via(msg, mark.startswith("d"))
            self.mask_request(msg, own, downstream=mark.startswith("d"))
            return
        top = msg.top_via
        if top is None or DIR_PARAM not in top.params:
            return  # a reply the hooks never saw the request of
        mark = top.params[DIR_PARAM]
        msg.replace_top_via(top.without_params(DIR_PARAM))
        self.mask_reply(msg, own, downstream=mark.startswith("d"))

    @staticmethod
    def direction(req: Request, own: OwnUri) -> bool:
        """True (downstream) for an initial request, or an in-dialog one whose From tag
        is the ``ftag`` of the proxy's Route entry (the caller's side), as rr does."""
        if not req.to_tag:
            return True
        for r in req.routes:
            if isinstance(r.uri, SipURI) and own(r.uri):
                ftag = r.uri.params.get("ftag")
                if ftag is not None:
                    return ftag == req.from_tag
        return True
