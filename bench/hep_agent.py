"""What mirroring costs the proxy: CPU per message of the HEP agent (kamtool.proxy.hep).

The transports call ``HepAgent.tap`` once per message received and once per message sent
while tracing is on (not at all while it is off). This measures, on one core:

* ``encode``: building the HEPv3 datagram of an INVITE with SDP (``encode_hep3``);
* ``tap``: the whole hook, i.e. the timestamp, the encoding and a non-blocking ``sendto``
  on loopback (to a port where nothing listens: the kernel's full send path, no reader
  competing for the CPU; unconnected UDP reports no error);
* ``tap x2 dest``: the same with a second destination (``kamtool trace`` next to Homer).

Compare with the routing core's cost per message (``proxy_core.py``: ~35 us per OPTIONS,
~60-90 us per REGISTER): a traced OPTIONS transaction is two messages, so two taps.

    python bench/hep_agent.py [--n 50000] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kamtool.proxy.hep import HepAgent
from kamtool.sip.hep import HepPacket, encode_hep3

INVITE = (
    b"INVITE sip:1002@192.0.2.20 SIP/2.0\r\n"
    b"Record-Route: <sip:192.0.2.1;lr;ftag=9a8b7c6d>\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcydzigwkX\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bK-1\r\n"
    b"Max-Forwards: 69\r\nFrom: <sip:1001@example.com>;tag=9a8b7c6d\r\n"
    b"To: <sip:1002@example.com>\r\nCall-ID: ZmY2YjM0NzE5YzYxNTk1NjQ4ZDMxMmU0ZjE1\r\n"
    b"CSeq: 2 INVITE\r\nContact: <sip:1001@192.0.2.10:5060>\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 180\r\n\r\n" + b"v=0\r\n" + b"a" * 174
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate(fn, n: int) -> float:
    """Microseconds of CPU per call of ``fn`` over ``n`` calls."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pkt = HepPacket(INVITE, "192.0.2.10", 5060, "192.0.2.1", 5060, 1_700_000_000, 1, 17,
                    capture_id=1, auth_key=b"key")  # fmt: skip
    one = HepAgent(f"udp:127.0.0.1:{free_udp_port()}", auth_key="key")
    two = HepAgent(f"udp:127.0.0.1:{free_udp_port()}", auth_key="key")
    two.add(f"udp:127.0.0.1:{free_udp_port()}")
    src, dst = ("192.0.2.10", 5060), ("192.0.2.1", 5060)
    results = {
        "encode": rate(lambda: encode_hep3(pkt), args.n),
        "tap": rate(lambda: one.tap(INVITE, "udp", src, dst), args.n),
        "tap x2 dest": rate(lambda: two.tap(INVITE, "udp", src, dst), args.n),
    }
    errors = one.errors + two.errors
    one.close()
    two.close()
    if args.json:
        print(json.dumps({"us_per_message": results, "n": args.n, "send_errors": errors}))
        return
    print(f"{len(INVITE)}-byte INVITE, {args.n} messages, CPU time per message:")
    for name, us in results.items():
        print(f"  {name:<12} {us:6.2f} us   ({1e6 / us:,.0f}/s)")
    if errors:
        print(f"  ({errors} sends failed)")


if __name__ == "__main__":
    main()
