"""``kamtool trace`` fed with HEP datagrams on loopback (no server, ``--no-rpc``): output
lines and JSON objects, call grouping, filters, pcap export read by tshark, the auth key,
HEP from sngrep's own encoder, and bad input."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from kamtool.sip.hep import HepPacket, encode_hep2, encode_hep3
from tests.support.ports import free_port
from tests.trace.support import Trace, key, need, sip_packets


def sip(first: str, call_id: str, cseq: str, frm: str, to: str, extra: str = "") -> bytes:
    return (
        f"{first}\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK{abs(hash(first + cseq))}\r\n"
        f"From: <sip:{frm}@example.com>;tag=f1\r\nTo: <sip:{to}@example.com>{extra}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


A, B = "call-a@10.0.0.1", "call-b@10.0.0.9"
CALLER, PROXY, CALLEE, OTHER = ("10.0.0.1", 5070), ("10.0.0.5", 5060), ("10.0.0.2", 5080), (
    "10.0.0.9", 5090)  # fmt: skip
# (payload, src, dst, transport): call A alice -> bob through the proxy, bob hangs up
# (his BYE's From is bob); call B is an OPTIONS from carol on another address
MESSAGES = [
    (sip("INVITE sip:bob@example.com SIP/2.0", A, "1 INVITE", "alice", "bob"), CALLER, PROXY, 17),
    (sip("SIP/2.0 100 Trying", A, "1 INVITE", "alice", "bob"), PROXY, CALLER, 17),
    (sip("INVITE sip:bob@10.0.0.2:5080 SIP/2.0", A, "1 INVITE", "alice", "bob"), PROXY, CALLEE, 6),
    (sip("SIP/2.0 200 OK", A, "1 INVITE", "alice", "bob", ";tag=t2"), CALLEE, PROXY, 6),
    (sip("OPTIONS sip:10.0.0.5 SIP/2.0", B, "7 OPTIONS", "carol", "ping"), OTHER, PROXY, 17),
    (sip("SIP/2.0 200 OK", A, "1 INVITE", "alice", "bob", ";tag=t2"), PROXY, CALLER, 17),
    (sip("BYE sip:alice@10.0.0.1:5070 SIP/2.0", A, "1 BYE", "bob", "alice"), CALLEE, PROXY, 6),
    (sip("SIP/2.0 200 OK", A, "1 BYE", "bob", "alice"), PROXY, CALLEE, 6),
    (sip("SIP/2.0 200 OK", B, "7 OPTIONS", "carol", "ping"), PROXY, OTHER, 17),
]
T0 = 1_700_000_000


def datagrams(auth_key: bytes | None = None) -> list[bytes]:
    out = []
    for i, (payload, src, dst, proto) in enumerate(MESSAGES):
        pkt = HepPacket(payload, src[0], src[1], dst[0], dst[1], T0 + i, 1000 * i, proto,
                        capture_id=9, auth_key=auth_key)  # fmt: skip
        out.append(encode_hep2(pkt) if i == 4 else encode_hep3(pkt))  # one HEPv2
    return out


def send(port: int, packets: list[bytes], *, junk: bool = True) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        if junk:
            s.sendto(b"not HEP at all", ("127.0.0.1", port))
            s.sendto(encode_hep3(HepPacket(b"{}", "1.2.3.4", 1, "1.2.3.5", 2, proto_type=100)),
                     ("127.0.0.1", port))  # fmt: skip  (a HEP log, not SIP)
        for data in packets:
            s.sendto(data, ("127.0.0.1", port))
            time.sleep(0.01)  # keeps the order on a loaded machine


FILTERS = {
    "none": ([], list(range(9))),
    "caller alice keeps bob's BYE": (["--caller", "alice"], [0, 1, 2, 3, 5, 6, 7]),
    "callee bob by To or R-URI": (["--callee", "sip:bob@example.com"], [0, 1, 2, 3, 5, 6, 7]),
    "caller carol": (["--caller", "carol"], [4, 8]),
    "method BYE with its reply": (["--method", "bye"], [6, 7]),
    "ip of the callee": (["--ip", "10.0.0.2"], [2, 3, 6, 7]),
    "callid": (["--callid", B], [4, 8]),
    "callid and method": (["--callid", A, "--method", "INVITE"], [0, 1, 2, 3, 5]),
    "nobody": (["--caller", "mallory"], []),
}


def test_trace_prints_every_message_once_grouped_by_call_and_filters_hold(tmp_path):
    runs = {}
    for name, (args, _) in FILTERS.items():
        port = free_port()
        runs[name] = (port, Trace(tmp_path / "home", "--no-rpc", "--listen",
                                  f"udp:127.0.0.1:{port}", *args))  # fmt: skip
    packets = datagrams()
    for port, _ in runs.values():
        send(port, packets)
    for name, (_, trace) in runs.items():
        got = trace.stop()  # Ctrl-C
        want = FILTERS[name][1]
        assert [m["first_line"] for m in got] == [
            MESSAGES[i][0].split(b"\r\n", 1)[0].decode() for i in want
        ], name
        for obj, i in zip(got, want, strict=True):
            payload, src, dst, proto = MESSAGES[i]
            assert obj["src"] == f"{src[0]}:{src[1]}" and obj["dst"] == f"{dst[0]}:{dst[1]}"
            assert obj["proto"] == ("tcp" if proto == 6 else "udp")
            assert obj["time"] == pytest.approx(T0 + i + i / 1000)
            assert obj["call_id"] == (B if i in (4, 8) else A)
            assert obj["capture_id"] == 9
        if name == "none":  # numbered by first appearance: call A is 1, call B 2
            assert [m["call"] for m in got] == [1, 1, 1, 1, 2, 1, 1, 1, 2]


def test_calls_are_numbered_and_summarised_in_text_mode_and_full_prints_messages(tmp_path):
    port = free_port()
    trace = Trace(tmp_path / "home", "--no-rpc", "--listen", f"udp:127.0.0.1:{port}",
                  "--for", "5", "--full", json_=False)  # fmt: skip
    send(port, datagrams())
    code, out, err = trace.finish()
    assert code == 0, err
    lines = [line for line in out.splitlines() if " -> " in line]
    assert len(lines) == 9
    assert "[1] udp 10.0.0.1:5070 -> 10.0.0.5:5060 INVITE sip:bob@example.com SIP/2.0" in lines[0]
    assert lines[0].endswith(f"Call-ID: {A}") and "[2] udp 10.0.0.9:5090" in lines[4]
    assert "[1] tcp 10.0.0.2:5080 -> 10.0.0.5:5060 BYE" in lines[6]
    assert out.count("CSeq: 1 BYE") == 2  # --full: the whole messages
    # the summary: one row per call with its message count and final answer
    assert f"1\t{A}\tINVITE sip:bob@example.com SIP/2.0\t7\tSIP/2.0 200 OK" in out
    assert f"2\t{B}\tOPTIONS sip:10.0.0.5 SIP/2.0\t2\tSIP/2.0 200 OK" in out
    assert "9 messages received, 2 calls shown, 2 datagrams dropped" in err


def test_pcap_export_is_read_by_tshark_with_original_addresses_and_times(tmp_path):
    need("tshark")
    port, pcap = free_port(), tmp_path / "trace.pcap"
    trace = Trace(tmp_path / "home", "--no-rpc", "--listen", f"udp:127.0.0.1:{port}",
                  "--pcap", str(pcap))  # fmt: skip
    send(port, datagrams())
    shown = trace.stop()
    rows = sip_packets(pcap)
    assert [key(r) for r in rows] == [key(m) for m in shown]
    assert [r["proto"] for r in rows] == [m["proto"] for m in shown]
    assert [float(r["time"]) for r in rows] == pytest.approx([m["time"] for m in shown])


def test_auth_key_drops_hep_without_the_key(tmp_path):
    port = free_port()
    trace = Trace(tmp_path / "home", "--no-rpc", "--listen", f"udp:127.0.0.1:{port}",
                  "--auth-key", "s3cret")  # fmt: skip
    good = datagrams(b"s3cret")
    send(port, datagrams(b"wrong")[:3] + [good[0]] + datagrams()[1:3], junk=False)
    got = trace.stop()
    assert [m["first_line"] for m in got] == ["INVITE sip:bob@example.com SIP/2.0"]


def test_hep_encoded_by_sngrep_is_decoded(tmp_path):
    """sngrep (an independent HEP implementation) replays a pcap as HEPv3 to trace."""
    need("sngrep")
    need("tshark")
    from kamtool.core.pcap import PcapWriter

    source = tmp_path / "source.pcap"
    with source.open("wb") as f:
        writer = PcapWriter(f)
        for i, (payload, src, dst, proto) in enumerate(MESSAGES):
            if proto == 17:  # sngrep replays UDP only
                writer.write(payload, src, dst, T0 + i, 5, "udp")
    port = free_port()
    trace = Trace(tmp_path / "home", "--no-rpc", "--listen", f"udp:127.0.0.1:{port}")
    subprocess.run(["sngrep", "-N", "-q", "-I", str(source), "-H", f"udp:127.0.0.1:{port}"],
                   capture_output=True, timeout=20, check=True)  # fmt: skip
    got = trace.stop()
    assert [key(m) for m in got] == [key(r) for r in sip_packets(source)]
    assert len(got) == 5 and [m["time"] for m in got] == pytest.approx(
        [T0 + i + 5e-6 for i, m in enumerate(MESSAGES) if m[3] == 17]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--listen", "tcp:127.0.0.1:9060"], "UDP only"),
        (["--listen", "udp:example.com:9060"], "not an IP address"),
        (["--listen", "udp:127.0.0.1:99999"], "bad port"),
        (["--ip", "10.0.0"], "not an IP address"),
    ],
)
def test_bad_input_exits_2(args, message):
    from tests.support.cli import invoke

    res = invoke("trace", "--no-rpc", "--for", "0", *args)
    assert res.exit_code == 2 and message in res.stderr


def test_a_port_in_use_exits_2():
    from tests.support.cli import invoke

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        res = invoke("trace", "--no-rpc", "--for", "0", "--listen", f"udp:127.0.0.1:{port}")
    assert res.exit_code == 2 and "cannot listen for HEP" in res.stderr


def test_without_a_server_trace_warns_and_still_collects(tmp_path):
    port = free_port()
    trace = Trace(tmp_path / "home", "--listen", f"udp:127.0.0.1:{port}", "--for", "5",
                  rpc=f"http://127.0.0.1:{free_port()}/RPC")  # fmt: skip
    send(port, datagrams()[:2])
    code, out, err = trace.finish()
    assert code == 0 and "tracing not switched on" in err
    assert len(out.splitlines()) == 2
