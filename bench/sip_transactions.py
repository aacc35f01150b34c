"""Transactions per second through the sans-IO transaction layer, in memory, one core.

Each transaction is a full exchange between a client layer and a server layer over UDP
semantics: send_request -> server receive -> TU response -> client receive, then the
Completed-state timers (K, J, I, D, L, M) fire and both transactions are freed.

    python bench/sip_transactions.py [--count 20000] [--repeat 3]

Two figures per scenario:
  fsm    messages pre-parsed: the cost of matching, state tables, timers and events only;
  wire   every message serialised and parsed again, as a proxy sees it (parser included).
Scenarios: OPTIONS/200 (non-INVITE), INVITE/486 (+ hop-by-hop ACK), INVITE/200 (Accepted).
"""

from __future__ import annotations

import argparse
import gc
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kamtool.sip.events import Peer, RequestReceived, Send  # noqa: E402
from kamtool.sip.message import Request, make_response  # noqa: E402
from kamtool.sip.parser import parse_message  # noqa: E402
from kamtool.sip.transaction import TransactionLayer, build_ack  # noqa: E402

UAC = Peer("udp", "127.0.0.1", 5070)
UAS = Peer("udp", "127.0.0.1", 5060)


def make_request(method: str, i: int) -> Request:
    return Request(
        method,
        "sip:1002@127.0.0.1:5060",
        [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench-{i};rport"),
            ("From", f"<sip:1001@127.0.0.1>;tag=f{i}"),
            ("To", "<sip:1002@127.0.0.1>"),
            ("Call-ID", f"bench-{i}@127.0.0.1"),
            ("CSeq", f"1 {method}"),
            ("Contact", "<sip:1001@127.0.0.1:5070>"),
            ("Max-Forwards", "70"),
        ],
    )


def run(method: str, status: int, count: int, wire: bool) -> float:
    """CPU seconds for ``count`` complete transactions (both sides); CPU time rather than
    wall time so that a busy machine does not distort the figure."""
    requests = [make_request(method, i) for i in range(count)]
    client = TransactionLayer()
    server = TransactionLayer(trying_after=None)
    if wire:
        responses = None
    else:
        # pre-build what crosses the wire so only the layer is timed
        requests = [parse_message(r.to_bytes()) for r in requests]
        parsed_req = [parse_message(r.to_bytes()) for r in requests]
        responses = [
            parse_message(make_response(r, status, to_tag="t").to_bytes()) for r in parsed_req
        ]
        if status >= 300:  # the ACKs the client will generate, parsed ahead as well
            for r, resp in zip(requests, responses, strict=True):
                data = build_ack(r, resp)
                _ACKS[data] = parse_message(data)
    gc.collect()
    t0 = time.process_time()
    now = 0.0
    for i, req in enumerate(requests):
        now += 0.0001
        out = client.send_request(req, UAS, now)
        data = out[0].data
        incoming = parse_message(data) if wire else parsed_req[i]
        (ev,) = server.receive(incoming, UAC, now)
        assert isinstance(ev, RequestReceived)
        resp = make_response(ev.request, status, to_tag="t") if wire else responses[i]
        sent = server.send_response(ev.key, resp, now)
        back = parse_message(sent[0].data) if wire else resp
        got = client.receive(back, UAS, now)
        for e in got:
            if type(e) is Send:  # the ACK of a non-2xx
                ack = parse_message(e.data) if wire else ack_for(e.data)
                server.receive(ack, UAC, now)
    # all Completed/Accepted timers fire and every transaction is freed
    client.handle_timer(now + 3600)
    server.handle_timer(now + 3600)
    elapsed = time.process_time() - t0
    assert len(client) == 0 and len(server) == 0, (len(client), len(server))
    return elapsed


_ACKS: dict[bytes, object] = {}


def ack_for(data: bytes):
    """The pre-parsed ACK (the fsm figure leaves parsing out)."""
    return _ACKS.pop(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'scenario':<14}{'mode':<6}{'transactions/s':>16}{'us/transaction':>16}")
    for method, status in (("OPTIONS", 200), ("INVITE", 486), ("INVITE", 200)):
        for wire in (False, True):
            best = min(run(method, status, args.count, wire) for _ in range(args.repeat))
            rate = args.count / best
            name = f"{method}/{status}"
            mode = "wire" if wire else "fsm"
            print(f"{name:<14}{mode:<6}{rate:>16,.0f}{best / args.count * 1e6:>16.1f}")


if __name__ == "__main__":
    main()
