"""Write captured SIP messages as a pcap file that Wireshark and tshark read as SIP.

Each message becomes one raw-IP frame (link type 101: IPv4 or IPv6, no Ethernet) with
its original addresses, ports and timestamp: a UDP datagram, or for TCP one segment
(PSH|ACK) whose sequence numbers continue per direction, so Wireshark's reassembly and
"Follow TCP stream" see a coherent stream. TLS and other transports are written as TCP
(the payload was captured in clear). Checksums are computed (IPv6 requires the UDP one).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO

__all__ = ["LINKTYPE_RAW", "PcapWriter", "frame"]

LINKTYPE_RAW = 101
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_MAX_PAYLOAD = 65535 - 60  # what one IPv4 packet can carry after the IP and TCP headers


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(
    payload: bytes,
    src: tuple[str, int],
    dst: tuple[str, int],
    *,
    tcp: bool = False,
    seq: int = 0,
) -> bytes:
    """One IP packet carrying ``payload`` from ``src`` to ``dst`` over UDP (or TCP with
    sequence number ``seq``)."""
    payload = payload[:_MAX_PAYLOAD]
    s_ip, d_ip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if s_ip.version != d_ip.version:
        raise ValueError("source and destination of different IP families")
    number = 6 if tcp else 17
    if tcp:
        seg = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, 1, 5 << 4, 0x18,
                          65535, 0, 0) + payload  # fmt: skip
        csum_at = 16
    else:
        seg = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
        csum_at = 6
    if s_ip.version == 4:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!BBH", 0, number, len(seg))
    else:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!IxxxB", len(seg), number)
    csum = _checksum(pseudo + seg) or (0xFFFF if not tcp else 0)
    seg = seg[:csum_at] + struct.pack("!H", csum) + seg[csum_at + 2 :]
    if s_ip.version == 4:
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, number, 0,
                           s_ip.packed, d_ip.packed)  # fmt: skip
        head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    else:
        head = struct.pack("!IHBB16s16s", 6 << 28, len(seg), number, 64, s_ip.packed, d_ip.packed)
    return head + seg


class PcapWriter:
    """A pcap file (microsecond timestamps, raw IP) written one message at a time."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._seq: dict[tuple[str, int, str, int], int] = {}
        stream.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        self.count = 0

    def write(
        self,
        payload: bytes,
        src: tuple[str, int],
        dst: tuple[str, int],
        ts_sec: int,
        ts_usec: int,
        transport: str = "udp",
    ) -> None:
        """Add one message seen at ``ts_sec.ts_usec`` (``transport``: udp, tcp, tls ...)."""
        tcp = transport != "udp"
        seq = 0
        if tcp:
            key = (src[0], src[1], dst[0], dst[1])
            seq = self._seq.get(key, 1)
            self._seq[key] = seq + min(len(payload), _MAX_PAYLOAD)
        data = frame(payload, src, dst, tcp=tcp, seq=seq)
        self.stream.write(_RECORD.pack(ts_sec, ts_usec, len(data), len(data)) + data)
        self.count += 1

    def flush(self) -> None:
        self.stream.flush()
