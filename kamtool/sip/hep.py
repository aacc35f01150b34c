"""HEP (Homer Encapsulation Protocol): sans-IO encoder and decoder.

HEPv3 (``HEP3`` magic) is a list of chunks, each ``vendor(16) type(16) length(16) value``
(``length`` counts the 6-byte chunk header), after a 6-byte header: the magic and the
total length. Vendor 0 chunk types used here::

    1 IP family (u8: 2 IPv4, 10 IPv6)      2 IP protocol (u8: 17 UDP, 6 TCP ...)
    3/4 IPv4 source/destination            5/6 IPv6 source/destination
    7/8 source/destination port (u16)      9/10 timestamp seconds/microseconds (u32)
    11 protocol type (u8: 1 SIP)           12 capture agent id (u32)
    14 auth key                            15 payload   16 compressed payload (zlib)
    17 correlation id                      (anything else is kept in ``extra``)

HEPv1/v2 (what Kamailio's siptrace sends with ``hep_version`` 1 or 2) are read too: a
fixed header (version, header length, family, protocol, ports in network order), the two
addresses, for v2 a time header (seconds, microseconds, capture id: little endian, padded
to 12 bytes as Kamailio's struct is), then the payload.

Everything malformed raises :class:`HepError`; nothing else escapes :func:`decode_hep`.
No clock is read: timestamps are given by the caller.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import SipError

__all__ = [
    "HEP3_MAGIC",
    "HepError",
    "HepPacket",
    "decode_hep",
    "encode_hep2",
    "encode_hep3",
    "hep3_datagram",
    "ip_proto_name",
    "is_hep",
]

HEP3_MAGIC = b"HEP3"
AF_INET, AF_INET6 = 2, 10  # the values HEP carries (Linux's), whatever the platform
IPPROTO = {"udp": 17, "tcp": 6, "tls": 22, "sctp": 132, "ws": 22, "wss": 22}
_PROTO_NAMES = {17: "udp", 6: "tcp", 132: "sctp"}
PROTO_SIP = 1
MAX_PAYLOAD = 65535  # a decompressed payload bigger than this is refused

_HDR = struct.Struct("!4sH")
_CHUNK = struct.Struct("!HHH")
_U8 = struct.Struct("!HHHB")
_U16 = struct.Struct("!HHHH")
_U32 = struct.Struct("!HHHI")
_V12 = struct.Struct("!BBBBHH")  # HEPv1/v2 fixed header
_V2_TIME = struct.Struct("<IIH2x")  # tv_sec, tv_usec, capture id (+ struct padding)


class HepError(SipError, ValueError):
    """A datagram that is not (well-formed) HEP; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class HepPacket:
    """One captured message with where and when it was seen.

    ``ip_proto`` is the IP protocol number (17 UDP, 6 TCP; Kamailio marks TLS and
    WebSocket with 22); ``proto_type`` what the payload is (1 SIP). ``extra`` keeps the
    chunks this module does not interpret, as ``(vendor, type, value)``.
    """

    payload: bytes
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    ts_sec: int = 0
    ts_usec: int = 0
    ip_proto: int = 17
    proto_type: int = PROTO_SIP
    capture_id: int = 0
    auth_key: bytes | None = None
    correlation_id: bytes | None = None
    version: int = 3
    extra: tuple[tuple[int, int, bytes], ...] = field(default=())

    @property
    def family(self) -> int:
        """2 (IPv4) or 10 (IPv6), from the addresses."""
        return AF_INET6 if ":" in self.src_ip else AF_INET

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch."""
        return self.ts_sec + self.ts_usec / 1e6

    @property
    def transport(self) -> str:
        """``udp``, ``tcp``, ``sctp``, or ``ip<N>`` for other protocol numbers."""
        return ip_proto_name(self.ip_proto)


def ip_proto_name(number: int) -> str:
    """The transport name of an IP protocol number (22, Kamailio's mark for TLS: ``tls``)."""
    if number == 22:
        return "tls"
    return _PROTO_NAMES.get(number, f"ip{number}")


@lru_cache(maxsize=1024)
def _packed(ip: str) -> bytes:
    try:
        return ipaddress.ip_address(ip).packed
    except ValueError as exc:
        raise HepError(f"not an IP address: {ip!r}") from exc


def _data_chunk(ctype: int, value: bytes) -> bytes:
    return _CHUNK.pack(0, ctype, 6 + len(value)) + value


def encode_hep3(pkt: HepPacket) -> bytes:
    """The HEPv3 datagram of ``pkt`` (chunks in the order Kamailio's siptrace writes them);
    HepError when a field does not fit (an address, a value out of range, over 64 KiB)."""
    return hep3_datagram(
        pkt.payload, pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port, pkt.ts_sec,
        pkt.ts_usec, pkt.ip_proto, pkt.capture_id, pkt.auth_key, pkt.correlation_id,
        pkt.proto_type, pkt.extra,
    )  # fmt: skip


def hep3_datagram(
    payload: bytes,
    src_ip: str,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    ts_sec: int,
    ts_usec: int,
    ip_proto: int = 17,
    capture_id: int = 0,
    auth_key: bytes | None = None,
    correlation_id: bytes | None = None,
    proto_type: int = PROTO_SIP,
    extra: tuple[tuple[int, int, bytes], ...] = (),
) -> bytes:
    """:func:`encode_hep3` from the fields, without building a :class:`HepPacket` (the
    proxy's agent calls this for every message while tracing)."""
    try:
        src, dst = _packed(src_ip), _packed(dst_ip)
        if len(src) != len(dst):
            raise HepError("source and destination addresses of different families")
        v6 = len(src) == 16
        parts = [
            _U8.pack(0, 1, 7, AF_INET6 if v6 else AF_INET),
            _U8.pack(0, 2, 7, ip_proto),
            _data_chunk(5 if v6 else 3, src),
            _data_chunk(6 if v6 else 4, dst),
            _U16.pack(0, 7, 8, src_port),
            _U16.pack(0, 8, 8, dst_port),
            _U32.pack(0, 9, 10, ts_sec),
            _U32.pack(0, 10, 10, ts_usec),
            _U8.pack(0, 11, 7, proto_type),
            _U32.pack(0, 12, 10, capture_id),
        ]
        if correlation_id:
            parts.append(_data_chunk(17, correlation_id))
        if auth_key:
            parts.append(_data_chunk(14, auth_key))
        for vendor, ctype, value in extra:
            parts.append(_CHUNK.pack(vendor, ctype, 6 + len(value)) + value)
    except struct.error as exc:
        raise HepError(f"cannot encode as HEP: {exc}") from exc
    if len(payload) > 0xFFFF - 6:
        raise HepError(f"HEP packet too large (payload of {len(payload)} bytes)")
    parts.append(_data_chunk(15, payload))
    body = b"".join(parts)
    total = 6 + len(body)
    if total > 0xFFFF:
        raise HepError(f"HEP packet too large ({total} bytes)")
    return _HDR.pack(HEP3_MAGIC, total) + body


def encode_hep2(pkt: HepPacket, version: int = 2) -> bytes:
    """A HEPv2 (or v1: no time header) datagram, as Kamailio's siptrace writes it."""
    src, dst = _packed(pkt.src_ip), _packed(pkt.dst_ip)
    if len(src) != len(dst):
        raise HepError("source and destination addresses of different families")
    family = AF_INET6 if len(src) == 16 else AF_INET
    head = _V12.pack(version, 8 + 2 * len(src), family, pkt.ip_proto, pkt.src_port, pkt.dst_port)
    out = head + src + dst
    if version == 2:
        out += _V2_TIME.pack(pkt.ts_sec, pkt.ts_usec, pkt.capture_id & 0xFFFF)
    return out + pkt.payload


def is_hep(data: bytes) -> bool:
    """True when ``data`` starts as a HEP packet would (v3 magic, or a v1/v2 header)."""
    if data[:4] == HEP3_MAGIC:
        return True
    return len(data) >= 16 and data[0] in (1, 2) and data[1] in (16, 40) and data[2] in (2, 10)


def decode_hep(data: bytes | bytearray | memoryview) -> HepPacket:
    """Decode one HEP datagram (v3, v2 or v1); :class:`HepError` when malformed."""
    data = bytes(data)
    if data[:4] == HEP3_MAGIC:
        return _decode_v3(data)
    if data[:1] in (b"\x01", b"\x02"):
        return _decode_v12(data)
    raise HepError("not a HEP packet (no HEP3 magic, not version 1 or 2)")


_FIXED = {1: 1, 2: 1, 3: 4, 4: 4, 5: 16, 6: 16, 7: 2, 8: 2, 9: 4, 10: 4, 11: 1, 12: 4, 13: 2}


def _decode_v3(data: bytes) -> HepPacket:
    if len(data) < 6:
        raise HepError("truncated HEP3 header")
    total = _HDR.unpack_from(data)[1]
    if total < 6 or total > len(data):
        raise HepError(f"HEP3 length {total} does not fit the {len(data)} bytes received")
    values: dict[int, bytes] = {}
    extra: list[tuple[int, int, bytes]] = []
    pos = 6
    while pos < total:
        if total - pos < 6:
            raise HepError(f"truncated chunk header at offset {pos}")
        vendor, ctype, clen = _CHUNK.unpack_from(data, pos)
        if clen < 6 or pos + clen > total:
            raise HepError(f"chunk {vendor}/{ctype} length {clen} at offset {pos} is wrong")
        value = data[pos + 6 : pos + clen]
        pos += clen
        if vendor != 0 or (ctype not in _FIXED and ctype not in (14, 15, 16, 17)):
            extra.append((vendor, ctype, value))
            continue
        size = _FIXED.get(ctype)
        if size is not None and len(value) != size:
            raise HepError(f"chunk type {ctype} has {len(value)} bytes, not {size}")
        values[ctype] = value

    def num(ctype: int, default: int = 0) -> int:
        raw = values.get(ctype)
        return int.from_bytes(raw, "big") if raw is not None else default

    if 3 in values and 4 in values:
        src_ip, dst_ip = _ntop(values[3]), _ntop(values[4])
    elif 5 in values and 6 in values:
        src_ip, dst_ip = _ntop(values[5]), _ntop(values[6])
    else:
        raise HepError("no source and destination address chunks")
    family = num(1, AF_INET6 if ":" in src_ip else AF_INET)
    if family != (AF_INET6 if ":" in src_ip else AF_INET):
        raise HepError(f"IP family {family} does not match the address chunks")
    if 15 in values:
        payload = values[15]
    elif 16 in values:
        payload = _inflate(values[16])
    else:
        raise HepError("no payload chunk")
    return HepPacket(
        payload=payload,
        src_ip=src_ip,
        src_port=num(7),
        dst_ip=dst_ip,
        dst_port=num(8),
        ts_sec=num(9),
        ts_usec=num(10),
        ip_proto=num(2, 17),
        proto_type=num(11, PROTO_SIP),
        capture_id=num(12),
        auth_key=values.get(14),
        correlation_id=values.get(17),
        version=3,
        extra=tuple(extra),
    )


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, MAX_PAYLOAD + 1)
    except zlib.error as exc:
        raise HepError(f"compressed payload: {exc}") from exc
    if len(out) > MAX_PAYLOAD or inflater.unconsumed_tail:
        raise HepError("compressed payload too large")
    return out


def _ntop(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def _decode_v12(data: bytes) -> HepPacket:
    if len(data) < _V12.size:
        raise HepError("truncated HEP header")
    version, hlen, family, proto, sport, dport = _V12.unpack_from(data)
    size = {AF_INET: 4, AF_INET6: 16}.get(family)
    if size is None:
        raise HepError(f"unknown IP family {family}")
    if hlen != 8 + 2 * size:
        raise HepError(f"header length {hlen} does not match family {family}")
    pos = 8 + 2 * size
    if len(data) < pos:
        raise HepError("truncated HEP addresses")
    src_ip, dst_ip = _ntop(data[8 : 8 + size]), _ntop(data[8 + size : pos])
    sec = usec = capture = 0
    if version == 2:
        if len(data) < pos + _V2_TIME.size:
            raise HepError("truncated HEPv2 time header")
        sec, usec, capture = _V2_TIME.unpack_from(data, pos)
        pos += _V2_TIME.size
    return HepPacket(
        payload=data[pos:],
        src_ip=src_ip,
        src_port=sport,
        dst_ip=dst_ip,
        dst_port=dport,
        ts_sec=sec,
        ts_usec=usec,
        ip_proto=proto,
        capture_id=capture,
        version=version,
    )
