"""Parse and serialise rates of kamtool.sip on one core (messages per second).

    python bench/sip_parse.py [--seconds 1.0] [--json]

Cases: a REGISTER with digest credentials, an INVITE with SDP, a 200 OK to it, each
parsed eagerly (every routing header validated), through the header-only fast path
(``eager=False``: start line, framing, Call-ID/CSeq/Content-Length, mandatory fields),
serialised unchanged, and a proxy hop (parse, add Via/Record-Route, decrement
Max-Forwards, serialise).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from kamtool.sip import NameAddr, SipURI, Via, make_branch, parse_message

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060;rinstance=8f2b3c4d5e6f7a8b;transport=UDP>\r\n"
    b"To: <sip:1001@example.com>\r\n"
    b"From: <sip:1001@example.com>;tag=9a8b7c6d\r\n"
    b"Call-ID: ZmY2YjM0NzE5YzYxNTk1NjQ4ZDMxMmU0ZjE1ZTg5N2M\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Supported: replaces, norefersub, extended-refer, timer, outbound, path\r\n"
    b"User-Agent: Z 5.4.12 v2.10.13.2\r\n"
    b'Authorization: Digest username="1001",realm="example.com",'
    b'nonce="ZHx8ZGVhZGJlZWY6MTcwMDAwMDAwMA==",uri="sip:example.com",'
    b'response="6629fae49393a05397450978507c4ef1",algorithm=MD5\r\n'
    b"Allow-Events: presence, kpml, talk\r\n"
    b"Content-Length: 0\r\n\r\n"
)

SDP = (
    b"v=0\r\no=- 3847262 3847262 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 8000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:1002@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---b2c3d4e5f6a7b8c9\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@192.0.2.10:5060;transport=UDP>\r\n"
    b"To: <sip:1002@example.com>\r\n"
    b'From: "Alice" <sip:1001@example.com>;tag=1c2d3e4f\r\n'
    b"Call-ID: NjE3MzQ4ZGQ5YjFhYTk4ZDJjNjM0ZGE0YzMyNzEwNTg\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Supported: replaces, norefersub, extended-refer, timer, outbound, path\r\n"
    b"User-Agent: Z 5.4.12 v2.10.13.2\r\n"
    b"Allow-Events: presence, kpml, talk\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)

OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsr-aabbccdd;rport=5060\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;received=192.0.2.10;rport=5060;"
    b"branch=z9hG4bK-524287-1---b2c3d4e5f6a7b8c9\r\n"
    b"Record-Route: <sip:192.0.2.1;lr>\r\n"
    b"Contact: <sip:1002@192.0.2.20:5060;transport=UDP>\r\n"
    b"To: <sip:1002@example.com>;tag=77aa88bb\r\n"
    b'From: "Alice" <sip:1001@example.com>;tag=1c2d3e4f\r\n'
    b"Call-ID: NjE3MzQ4ZGQ5YjFhYTk4ZDJjNjM0ZGE0YzMyNzEwNTg\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: Z 5.4.12 v2.10.13.2\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)

CASES = {"REGISTER": REGISTER, "INVITE+SDP": INVITE, "200 OK": OK_200}

_VIA = Via("UDP", "192.0.2.1", 5060)
_RR = NameAddr(SipURI("192.0.2.1", params={"lr": None}))


def _proxy_hop(data: bytes) -> bytes:
    msg = parse_message(data)
    if msg.is_request:
        msg.decrement_max_forwards()
        msg.prepend_record_route(_RR)
        msg.prepend_via(_VIA.with_params(branch=make_branch(msg.top_via.branch or "", "x")))
    else:
        msg.pop_via()
    return msg.to_bytes()


def rate(fn, arg, seconds: float) -> float:
    """Calls per CPU second of fn(arg) (process time: fair on a busy machine), best of 3."""
    best = 0.0
    for _ in range(3):
        n = 0
        t0 = time.process_time()
        deadline = t0 + seconds / 3
        while True:
            for _ in range(200):
                fn(arg)
            n += 200
            t = time.process_time()
            if t >= deadline:
                break
        best = max(best, n / (t - t0))
    return best


def run(seconds: float) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, data in CASES.items():
        parsed = parse_message(data)
        results[name] = {
            "parse": rate(parse_message, data, seconds),
            "parse_fast_path": rate(lambda d: parse_message(d, eager=False), data, seconds),
            "serialise": rate(lambda m: m.to_bytes(), parsed, seconds),
            "proxy_hop": rate(_proxy_hop, data, seconds),
            "bytes": len(data),
        }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.5, help="per measurement")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = run(args.seconds)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'message':12} {'parse':>10} {'fast path':>10} {'serialise':>10} {'proxy hop':>10}  msg/s"
    )
    for name, r in results.items():
        print(
            f"{name:12} {r['parse']:10,.0f} {r['parse_fast_path']:10,.0f} "
            f"{r['serialise']:10,.0f} {r['proxy_hop']:10,.0f}"
        )


if __name__ == "__main__":
    main()
