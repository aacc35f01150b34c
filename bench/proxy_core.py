"""The proxy's routing core without sockets: messages per second on one core.

Feeds prepared datagrams straight into ``Engine.receive`` (what the UDP transport does) and
discards the replies, so the number is the Python cost per request, independent of SIPp
and of the machine's load:

* OPTIONS keepalive (parse, Max-Forwards, reply 200);
* REGISTER without credentials (401 with a fresh nonce);
* REGISTER with valid digest credentials (verify, save in memory, 200 with the bindings);
* REGISTER to a proxy without authentication (``kamtool serve --no-auth``: save, 200);
* MESSAGE relayed statefully to the registered contact, and its 200 relayed back (one
  server and one client transaction: tm's cost; counted per transaction, two messages);
* a call: INVITE relayed (100 Trying back, a dialog, Record-Route), its 200, the ACK and
  the BYE routed by our Record-Route, the BYE's 200 (five messages, counted per call).

    python bench/proxy_core.py [--n 20000] [--profile] [--route default|FILE.py] [--markers]

``--markers``: for ``bench/callgrind.py``: each measured part runs between ``os.getppid()``
and ``os.getpgrp()`` (callgrind zeroes its counters at the first and dumps at the second) and
is named on stdout (``MARK name count unit``); the relays' callee side (building the answers
from what the proxy sent) is replayed alone afterwards as ``... harness``, to be subtracted.

``--route FILE.py``: the same messages through another KEMI route script than kamtool's
default route (``kamtool/proxy/routes/default.py``; ``default`` names it too).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kamtool.proxy.auth import Authenticator
from kamtool.proxy.config import Listen, ProxyConfig
from kamtool.proxy.server import tune_gc
from kamtool.proxy.stats import Statistics
from kamtool.proxy.timers import TimerHeap
from kamtool.proxy.usrloc import LocationStore
from kamtool.proxy.wiring import build_proxy
from kamtool.sip.digest import answer_challenge, parse_challenge
from kamtool.sip.parser import parse_message


class Row:
    password, ha1, ha1b = "secret", "", ""


class Sink:
    proto = "udp"
    listen = Listen("udp", "127.0.0.1", 5060)

    def __init__(self) -> None:
        self.last = b""

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = data


class Wire:
    """The transports as the proxy sees them: keeps what was sent to the next hop."""

    connections: dict = {}

    def __init__(self) -> None:
        self.last = b""

    def endpoint_for(self, proto: str) -> Listen:
        return Sink.listen

    def listen_named(self, socket_str: str | None) -> Listen | None:
        return Sink.listen if socket_str == Sink.listen.socket_str else None

    def force(self, dest: tuple[str, str, int], listen: Listen) -> None:
        pass

    def socket_for(self, proto: str, host: str, port: int) -> Listen | None:
        return Sink.listen

    def send(self, proto: str, addr: tuple[str, int], data: bytes) -> bool:
        self.last = data
        return True


def message(n: int) -> bytes:
    return (
        f"MESSAGE sip:1001@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5998;branch=z9hG4bK-m{n};rport\r\n"
        f"From: <sip:bench@127.0.0.2>;tag=m{n}\r\nTo: <sip:1001@127.0.0.1>\r\n"
        f"Call-ID: m{n}@bench\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    ).encode()


def answer(request: bytes) -> bytes:
    """The callee's 200 to a forwarded request: its header fields, tagged To, no body."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    keep = [h for h in head if h[:4] in (b"Via:", b"From", b"Call", b"CSeq")]
    to = next(h for h in head if h.startswith(b"To:"))
    return b"\r\n".join([b"SIP/2.0 200 OK", *keep, to + b";tag=c", b"Content-Length: 0", b"", b""])


def call_request(n: int, method: str, cseq: int, route: bytes = b"", to_tag: str = "") -> bytes:
    """The caller's INVITE (to the AoR), or its ACK/BYE inside the dialog (to the callee's
    contact, through our Record-Route)."""
    ruri = "sip:1001@127.0.0.1" if method == "INVITE" else "sip:1001@127.0.0.1:5999"
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    body += b"m=audio 8000 RTP/AVP 0\r\n"
    if method != "INVITE":
        body = b""
    head = (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5998;branch=z9hG4bK-c{n}-{cseq}{method[0]};rport\r\n"
        f"From: <sip:bench@127.0.0.2>;tag=c{n}\r\n"
        f"To: <sip:1001@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
        f"Call-ID: c{n}@bench\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:bench@127.0.0.2:5998>\r\n"
    ).encode()
    if route:
        head += b"Route: " + route + b"\r\n"
    if body:
        head += b"Content-Type: application/sdp\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def call_answer(request: bytes) -> tuple[bytes, bytes]:
    """The callee's 200 to a forwarded INVITE or BYE (Record-Route, Contact, To tag), and
    the Record-Route value the caller will route by."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    keep = [h for h in head if h[:4] in (b"Via:", b"From", b"Call", b"CSeq", b"Reco")]
    to = next(h for h in head if h.startswith(b"To:"))
    if b"tag=" not in to:
        to += b";tag=callee"
    rr = next((h[len(b"Record-Route: ") :] for h in head if h.startswith(b"Record-Route:")), b"")
    lines = [b"SIP/2.0 200 OK", *keep, to, b"Contact: <sip:1001@127.0.0.1:5999>"]
    return b"\r\n".join([*lines, b"Content-Length: 0", b"", b""]), rr


def register(n: int, auth: str | None = None, tag: str = "") -> bytes:
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{n}-{1 if auth else 0}{tag};rport",
        "From: <sip:1001@127.0.0.1>;tag=abc",
        "To: <sip:1001@127.0.0.1>",
        "Call-ID: bench-reg@127.0.0.1",
        f"CSeq: {n} REGISTER",
        "Contact: <sip:1001@127.0.0.1:5999;transport=udp>",
        "Expires: 600",
        "Max-Forwards: 70",
        "User-Agent: bench",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


OPTIONS = (
    b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-o;rport\r\n"
    b"From: <sip:bench@127.0.0.1>;tag=o1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o@x\r\n"
    b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--profile", action="store_true", help="cProfile each scenario")
    ap.add_argument("--profile-top", type=int, default=15, help="functions shown per profile")
    ap.add_argument("--profile-sort", default="tottime", help="pstats sort key (cumulative...)")
    ap.add_argument("--markers", action="store_true", help="callgrind markers (callgrind.py)")
    ap.add_argument("--route", help="a KEMI route script, or 'default' (kamtool's)")
    ap.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's garbage collector settings (default: tune_gc(), as kamtool serve)",
    )
    args = ap.parse_args()
    loop = asyncio.new_event_loop()
    # pike stays on (its count is part of every request's cost) but never bans the loop
    cfg = ProxyConfig(
        listen=(Listen("udp", "127.0.0.1", 5060),),
        rpc_listen=None,
        pike_reqs_density_per_unit=10**9,
        auth_qop=False,  # Kamailio's defaults: the same credentials answer every time
    )
    auth = Authenticator(
        None, lookup=lambda u, d: Row(), qop=False, nonce_count=False, one_time_nonce=False
    )
    script = None
    if args.route and args.route != "default":
        from kamtool.proxy.script import load_script

        script = load_script(args.route)
    wire = Wire()
    router = build_proxy(
        cfg,
        script=script,
        timers=TimerHeap(loop),
        usrloc=LocationStore(db_mode=0),
        auth=auth,
        stats=Statistics(),
        transports=wire,
    )
    sink = Sink()
    addr = ("127.0.0.1", 5999)
    router.receive(register(1), sink, addr)
    ch = parse_challenge(parse_message(sink.last).headers.get("www-authenticate"))
    creds = answer_challenge(
        ch, method="REGISTER", uri="sip:127.0.0.1", username="1001", password="secret"
    ).to_header()
    authed = [register(i, creds) for i in range(2, args.n + 2)]
    plain = [register(i) for i in range(2, args.n + 2)]
    # REGISTER without auth (sipp_compare's register_noauth, `kamtool serve --no-auth`):
    # a second proxy, the same route, no digest
    noauth = build_proxy(
        replace(cfg, auth=False),
        script=script,
        timers=TimerHeap(loop),
        usrloc=LocationStore(db_mode=0),
        auth=auth,
        stats=Statistics(),
        transports=Wire(),
    )
    unauthed = [register(i, None, "n") for i in range(2, args.n + 2)]
    if not args.default_gc:
        tune_gc()
    mark = Marks(args.markers)
    prof = cProfile.Profile() if args.profile else None
    # The relays time the proxy's part alone, six clock reads per call; under cProfile
    # those reads would be a tenth of the profile, so they are skipped (no times then).
    clock = _no_clock if args.profile else time.process_time
    for name, msgs, target in (
        ("OPTIONS", [OPTIONS] * args.n, router),
        ("REGISTER 401", plain, router),
        ("REGISTER 200", authed, router),
        ("REGISTER noauth", unauthed, noauth),
    ):
        if prof:
            prof.enable()
        mark.start()
        t0 = time.process_time()  # CPU time: the machine may be busy
        for m in msgs:
            target.receive(m, sink, addr)
        dt = time.process_time() - t0
        mark.stop(name, len(msgs), "msg")
        if prof:
            prof.disable()
        report(name, len(msgs), dt, sink.last)
        prof = show_profile(prof, name, args)
    relayed = [message(i) for i in range(args.n)]
    peer = ("127.0.0.2", 5998)
    if prof:
        prof.enable()
    dt = 0.0
    sent: list[bytes] = []
    mark.start()
    for m in relayed:  # only the proxy's part is timed, not the callee's
        t0 = clock()
        router.receive(m, sink, peer)
        t1 = clock()
        reply = answer(wire.last)
        t2 = clock()
        router.receive(reply, sink, ("127.0.0.1", 5999))
        dt += clock() - t2 + t1 - t0
        if args.markers:
            sent.append(wire.last)
    mark.stop("MESSAGE relay", len(relayed), "tx")
    if prof:
        prof.disable()
    report("MESSAGE relay", len(relayed), dt, sink.last, unit="tx")
    prof = show_profile(prof, "MESSAGE relay (with its callee's side)", args)
    if args.markers:  # the callee's side alone, to subtract
        sent = [bytes(s) for s in sent]
        mark.start()
        for s in sent:
            answer(s)
        mark.stop("MESSAGE relay harness", len(sent), "tx")
    callee = ("127.0.0.1", 5999)
    if prof:
        prof.enable()
    dt = 0.0
    calls = args.n // 4
    outs: list[tuple[bytes, bytes]] = []
    mark.start()
    for i in range(calls):  # INVITE, 200, ACK, BYE, 200: the proxy's part only
        invite = call_request(i, "INVITE", 1)
        t0 = clock()
        router.receive(invite, sink, peer)
        dt += clock() - t0
        invite_out = wire.last
        ok, rr = call_answer(wire.last)
        ack = call_request(i, "ACK", 1, rr, "callee")
        bye = call_request(i, "BYE", 2, rr, "callee")
        t0 = clock()
        router.receive(ok, sink, callee)
        router.receive(ack, sink, peer)
        router.receive(bye, sink, peer)
        dt += clock() - t0
        if args.markers:
            outs.append((invite_out, wire.last))
        bye_ok, _ = call_answer(wire.last)
        t0 = clock()
        router.receive(bye_ok, sink, callee)
        dt += clock() - t0
    mark.stop("call (5 msgs)", calls, "call")
    if prof:
        prof.disable()
    report("call (5 msgs)", calls, dt, sink.last, unit="call")
    prof = show_profile(prof, "call (with its caller's and callee's side)", args)
    if args.markers:  # the caller's and callee's side alone, to subtract
        mark.start()
        for i, (invite_out, bye_out) in enumerate(outs):
            call_request(i, "INVITE", 1)
            _, rr = call_answer(invite_out)
            call_request(i, "ACK", 1, rr, "callee")
            call_request(i, "BYE", 2, rr, "callee")
            call_answer(bye_out)
        mark.stop("call (5 msgs) harness", len(outs), "call")


def show_profile(
    prof: cProfile.Profile | None, name: str, args: argparse.Namespace
) -> cProfile.Profile | None:
    """Print one scenario's profile; a fresh profiler for the next one."""
    if prof is None:
        return None
    prof.disable()
    print(f"--- cProfile: {name}, top {args.profile_top} by {args.profile_sort}")
    pstats.Stats(prof).sort_stats(args.profile_sort).print_stats(args.profile_top)
    return cProfile.Profile()


class Marks:
    """Callgrind markers: ``os.getppid()`` starts a part (callgrind.py zeroes the counters
    there), ``os.getpgrp()`` ends it (callgrind dumps them); the proxy calls neither."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def start(self) -> None:
        if self.on:
            os.getppid()

    def stop(self, name: str, count: int, unit: str) -> None:
        if self.on:
            os.getpgrp()
            print(f"MARK {name}\t{count}\t{unit}", flush=True)


def _no_clock() -> float:
    return 0.0


def report(name: str, n: int, dt: float, last: bytes, unit: str = "msg") -> None:
    status = parse_message(last).status
    if not dt:  # profiled relays are not timed
        print(f"{name:13} {'-':>9} {unit}/s   {'-':>6} us/{unit}  last={status}")
        return
    print(f"{name:13} {n / dt:9.0f} {unit}/s   {1e6 * dt / n:6.1f} us/{unit}  last={status}")


if __name__ == "__main__":
    main()
