"""HEP codec: HEPv3 round trips, byte layouts built by hand (as Kamailio's siptrace writes
them), HEPv1/v2 reading, malformed input, and a hypothesis fuzz of both directions."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamtool.sip.hep import (
    HepError,
    HepPacket,
    decode_hep,
    encode_hep2,
    encode_hep3,
    ip_proto_name,
    is_hep,
)

SIP = (
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
    b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, ctype, 6 + len(value)) + value


def hep3(*chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def v4_chunks(payload: bytes = SIP) -> list[bytes]:
    """What Kamailio 5.6's siptrace writes for udp:10.0.0.1:5060 -> udp:10.0.0.2:5070."""
    return [
        chunk(1, b"\x02"),
        chunk(2, b"\x11"),
        chunk(3, bytes([10, 0, 0, 1])),
        chunk(4, bytes([10, 0, 0, 2])),
        chunk(7, struct.pack("!H", 5060)),
        chunk(8, struct.pack("!H", 5070)),
        chunk(9, struct.pack("!I", 1_700_000_000)),
        chunk(10, struct.pack("!I", 123_456)),
        chunk(11, b"\x01"),
        chunk(12, struct.pack("!I", 42)),
        chunk(14, b"secret"),
        chunk(15, payload),
    ]


def test_decodes_a_hand_built_hep3_packet():
    pkt = decode_hep(hep3(*v4_chunks()))
    assert (pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port) == ("10.0.0.1", 5060,
                                                                      "10.0.0.2", 5070)  # fmt: skip
    assert (pkt.ts_sec, pkt.ts_usec, pkt.timestamp) == (1_700_000_000, 123_456, 1700000000.123456)
    assert (pkt.ip_proto, pkt.transport, pkt.proto_type, pkt.capture_id) == (17, "udp", 1, 42)
    assert pkt.auth_key == b"secret" and pkt.correlation_id is None and pkt.payload == SIP
    assert pkt.version == 3 and pkt.family == 2 and pkt.extra == ()


def test_encoder_writes_kamailios_layout_byte_for_byte():
    pkt = HepPacket(SIP, "10.0.0.1", 5060, "10.0.0.2", 5070, 1_700_000_000, 123_456,
                    capture_id=42, auth_key=b"secret")  # fmt: skip
    assert encode_hep3(pkt) == hep3(*v4_chunks())


def test_round_trip_ipv6_tcp_with_correlation_id_and_vendor_chunks():
    pkt = HepPacket(SIP, "2001:db8::1", 5061, "::1", 40000, 5, 999_999, ip_proto=6,
                    capture_id=2**32 - 1, correlation_id=b"call-1",
                    extra=((0x1234, 1, b"x"), (0, 19, b"node-a")))  # fmt: skip
    data = encode_hep3(pkt)
    assert decode_hep(data) == pkt
    assert decode_hep(data).transport == "tcp" and decode_hep(data).family == 10


def test_tls_is_marked_as_kamailio_does_and_named_back():
    assert [ip_proto_name(n) for n in (22, 132, 99)] == ["tls", "sctp", "ip99"]


def test_unknown_chunks_are_kept_and_compressed_payloads_inflated():
    data = hep3(*v4_chunks()[:-1], chunk(99, b"zz"), chunk(16, zlib.compress(SIP)))
    pkt = decode_hep(data)
    assert pkt.payload == SIP and pkt.extra == ((0, 99, b"zz"),)


def test_trailing_bytes_after_the_declared_length_are_ignored():
    assert decode_hep(hep3(*v4_chunks()) + b"junk").payload == SIP


@pytest.mark.parametrize("version", [1, 2])
def test_hep_v1_and_v2_as_kamailio_writes_them(version):
    # version, header length (8 + 2 addresses), AF_INET, UDP, ports in network order
    data = struct.pack("!BBBBHH", version, 16, 2, 17, 5060, 5070)
    data += bytes([10, 0, 0, 1, 10, 0, 0, 2])
    if version == 2:  # tv_sec, tv_usec, capture id: little endian, padded to 12 bytes
        data += struct.pack("<IIH", 1_700_000_000, 250_000, 42) + b"\x00\x00"
    pkt = decode_hep(data + SIP)
    assert (pkt.version, pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port) == (
        version, "10.0.0.1", 5060, "10.0.0.2", 5070)  # fmt: skip
    assert pkt.payload == SIP
    if version == 2:
        assert (pkt.ts_sec, pkt.ts_usec, pkt.capture_id) == (1_700_000_000, 250_000, 42)
    assert decode_hep(encode_hep2(pkt, version)) == pkt


def test_hep_v2_over_ipv6():
    pkt = HepPacket(SIP, "fe80::1", 1, "fe80::2", 2, 3, 4, ip_proto=6, capture_id=5, version=2)
    assert decode_hep(encode_hep2(pkt)) == pkt


def test_is_hep():
    assert is_hep(hep3(*v4_chunks())) and is_hep(encode_hep2(decode_hep(hep3(*v4_chunks()))))
    assert not is_hep(SIP) and not is_hep(b"")


MALFORMED = {
    "empty": b"",
    "sip, not hep": SIP,
    "short header": b"HEP3\x00",
    "length beyond data": b"HEP3\x00\x50" + b"\x00" * 10,
    "length below header": b"HEP3\x00\x02",
    "truncated chunk header": hep3(chunk(1, b"\x02"))[:-7] + b"\x00\x00\x00",
    "chunk length below 6": b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x03",
    "chunk past the end": b"HEP3\x00\x0c\x00\x00\x00\x01\x00\x09",
    "ipv4 chunk of 5 bytes": hep3(*v4_chunks()[:2], chunk(3, b"12345"), *v4_chunks()[3:]),
    "port of 3 bytes": hep3(*v4_chunks()[:4], chunk(7, b"abc"), *v4_chunks()[5:]),
    "no payload": hep3(*v4_chunks()[:-1]),
    "no addresses": hep3(*v4_chunks()[:2], *v4_chunks()[4:]),
    "family says ipv6": hep3(chunk(1, b"\x0a"), *v4_chunks()[1:]),
    "bad compressed payload": hep3(*v4_chunks()[:-1], chunk(16, b"not zlib")),
    "compressed bomb": hep3(*v4_chunks()[:-1], chunk(16, zlib.compress(b"a" * 200_000))),
    "v2 truncated addresses": struct.pack("!BBBBHH", 2, 16, 2, 17, 1, 2) + b"\x01\x02",
    "v2 truncated time": struct.pack("!BBBBHH", 2, 16, 2, 17, 1, 2) + b"\x00" * 8 + b"\x01",
    "v2 unknown family": struct.pack("!BBBBHH", 2, 16, 7, 17, 1, 2) + b"\x00" * 20,
    "v2 header length wrong": struct.pack("!BBBBHH", 2, 40, 2, 17, 1, 2) + b"\x00" * 40,
    "v1 header only": b"\x01\x10",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_is_a_hep_error(data):
    with pytest.raises(HepError):
        decode_hep(data)


def test_encoder_refuses_what_hep_cannot_carry():
    with pytest.raises(HepError, match="not an IP address"):
        encode_hep3(HepPacket(SIP, "example.com", 1, "10.0.0.1", 2))
    with pytest.raises(HepError, match="different families"):
        encode_hep3(HepPacket(SIP, "::1", 1, "10.0.0.1", 2))
    with pytest.raises(HepError, match="too large"):
        encode_hep3(HepPacket(b"x" * 65535, "10.0.0.1", 1, "10.0.0.2", 2))


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
u16, u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
opt_bytes = st.one_of(st.none(), st.binary(min_size=1, max_size=40))


@st.composite
def packets(draw):
    src, dst = draw(st.one_of(st.tuples(ipv4, ipv4), st.tuples(ipv6, ipv6)))
    extra = draw(st.lists(st.tuples(st.integers(1, 0xFFFF), u16, st.binary(max_size=20)),
                          max_size=3))  # fmt: skip
    return HepPacket(
        payload=draw(st.binary(max_size=2000)), src_ip=src, src_port=draw(u16), dst_ip=dst,
        dst_port=draw(u16), ts_sec=draw(u32), ts_usec=draw(st.integers(0, 999_999)),
        ip_proto=draw(st.integers(0, 255)), proto_type=draw(st.integers(0, 255)),
        capture_id=draw(u32), auth_key=draw(opt_bytes), correlation_id=draw(opt_bytes),
        extra=tuple(extra),
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(packets())
def test_hypothesis_round_trip(pkt):
    assert decode_hep(encode_hep3(pkt)) == pkt


@settings(max_examples=300, deadline=None)
@given(packets(), st.data())
def test_hypothesis_damaged_packets_decode_or_raise_hep_error(pkt, data):
    raw = bytearray(encode_hep3(pkt))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            decode_hep(candidate)
        except HepError:
            pass


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"HEP3" + b),
                 st.binary(max_size=200).map(lambda b: b"\x02\x10\x02" + b)))  # fmt: skip
def test_hypothesis_random_bytes_only_raise_hep_error(data):
    try:
        decode_hep(data)
    except HepError:
        pass
