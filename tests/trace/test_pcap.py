"""The pcap writer read back by tshark with checksum validation on: IPv4 and IPv6, UDP
and TCP (sequence numbers continue per direction), original addresses and times."""

from __future__ import annotations

import subprocess

from kamtool.core.pcap import PcapWriter
from tests.trace.support import need


def message(call_id: str, size: int = 0) -> bytes:
    body = "x" * size
    return (
        "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def test_tshark_reads_every_family_and_transport_with_valid_checksums(tmp_path):
    need("tshark")
    pcap = tmp_path / "out.pcap"
    cases = [
        (("192.0.2.1", 5060), ("192.0.2.2", 40000), "udp", 0),
        (("2001:db8::1", 5060), ("2001:db8::2", 40001), "udp", 1),  # odd length: padding
        (("192.0.2.1", 5060), ("192.0.2.2", 40002), "tcp", 10),
        (("192.0.2.1", 5060), ("192.0.2.2", 40002), "tls", 3),  # same stream, seq goes on
        (("2001:db8::1", 5061), ("2001:db8::2", 40003), "tcp", 2000),
    ]
    with pcap.open("wb") as f:
        writer = PcapWriter(f)
        for i, (src, dst, proto, size) in enumerate(cases):
            writer.write(message(f"c{i}", size), src, dst, 1_700_000_000 + i, 250_000, proto)
    assert writer.count == 5
    fields = ["frame.time_epoch", "ip.src", "ipv6.src", "udp.dstport", "tcp.dstport",
              "tcp.seq_raw", "sip.Call-ID", "ip.checksum.status", "udp.checksum.status",
              "tcp.checksum.status"]  # fmt: skip
    args = ["tshark", "-r", str(pcap), "-o", "ip.check_checksum:TRUE", "-o",
            "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-T", "fields",
            "-E", "separator=|"]  # fmt: skip
    for name in fields:
        args += ["-e", name]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in res.stdout.splitlines()]
    assert [r["sip.Call-ID"] for r in rows] == ["c0", "c1", "c2", "c3", "c4"]
    assert [float(r["frame.time_epoch"]) for r in rows] == [1_700_000_000.25 + i for i in range(5)]
    v4, v6 = "192.0.2.1", "2001:db8::1"
    assert [r["ip.src"] or r["ipv6.src"] for r in rows] == [v4, v6, v4, v4, v6]
    assert [r["udp.dstport"] or r["tcp.dstport"] for r in rows] == ["40000", "40001", "40002",
                                                                    "40002", "40003"]  # fmt: skip
    # 1 = "Good" in Wireshark's checksum status (0 bad, 2 unverified)
    for r in rows:
        assert (r["udp.checksum.status"] or r["tcp.checksum.status"]) == "1", r
        if r["ip.src"]:
            assert r["ip.checksum.status"] == "1", r
    first, second = int(rows[2]["tcp.seq_raw"]), int(rows[3]["tcp.seq_raw"])
    assert second == first + len(message("c2", 10))
