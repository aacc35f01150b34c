"""Mutation fuzzer for the SIP parser: nothing but ParseError may ever escape.

Seeds are the RFC 4475/5118 torture messages in tests/sip/data/torture plus a few typical
messages; each round mutates one (bit flips, inserted separators, cut/duplicated ranges,
spliced messages, huge numbers, shuffled lines) and drives every entry point: datagram
parse (eager and lazy), every typed accessor, check_request, to_bytes and re-parse of the
result (which must succeed and compare equal), and the stream framer fed in random chunks.

    python bench/fuzz_sip.py --minutes 10 [--seed N] [--crash-dir DIR]

Prints iterations, verdict counts and any unexpected exception (with the input saved to
--crash-dir); exits 1 if there was one.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import random
import sys
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kamtool.sip import (  # noqa: E402
    KeepAlive,
    ParseError,
    StreamFramer,
    check_request,
    make_response,
    parse_message,
    parse_uri,
)
from tests.sip.torture import corpus  # noqa: E402

TYPICAL = [
    b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:1001@example.com>;tag=a1\r\nTo: <sip:1001@example.com>\r\n"
    b"Call-ID: c1@192.0.2.1\r\nCSeq: 1 REGISTER\r\n"
    b"Contact: <sip:1001@192.0.2.1:5060>;expires=3600\r\n"
    b'Authorization: Digest username="1001", realm="example.com", nonce="abc", '
    b'uri="sip:example.com", response="0123456789abcdef0123456789abcdef"\r\n'
    b"Expires: 3600\r\nContent-Length: 0\r\n\r\n",
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;received=192.0.2.1;rport=5060\r\n"
    b"Record-Route: <sip:proxy.example.com;lr>, <sip:[2001:db8::1]:5070;lr>\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=a1\r\nTo: Bob <sip:bob@example.com>;tag=b2\r\n'
    b"Call-ID: c2\r\nCSeq: 2 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.2>\r\nContent-Length: 4\r\n\r\nabcd",
]

SEPARATORS = b':;,<>"\\ \t\r\n[]@%=?/*'


def load_seeds() -> list[bytes]:
    seeds = list(TYPICAL)
    seeds.extend(corpus().values())
    SEEDS_CACHE[:] = seeds
    return seeds


SEEDS_CACHE: list[bytes] = []


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(10)
        n = len(b)
        if n == 0:
            b += rng.choice(seeds)
            continue
        i = rng.randrange(n)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i:i] = bytes([rng.choice(SEPARATORS)]) * rng.randint(1, 3)
        elif op == 2:
            del b[i : i + rng.randint(1, 16)]
        elif op == 3:
            j = rng.randrange(n)
            b[i:i] = b[j : j + rng.randint(1, 40)]
        elif op == 4:
            other = rng.choice(seeds)
            j = rng.randrange(len(other))
            b = b[:i] + bytearray(other[j:])
        elif op == 5:
            b[i:i] = rng.choice([b"99999999999999999999", b"-1", b"0", b"4294967296", b"65536"])
        elif op == 6:
            lines = bytes(b).split(b"\r\n")
            rng.shuffle(lines) if rng.random() < 0.2 else lines.insert(
                rng.randrange(len(lines)), rng.choice(lines)
            )
            b = bytearray(b"\r\n".join(lines))
        elif op == 7:
            b[i] = rng.randrange(256)
        elif op == 8:
            del b[i:]
        else:
            b[i:i] = rng.choice([b"\r\n ", b"\r\n\r\n", b"\n", b"%00", b"%", b"[::1]", b"\xff\xfe"])
    return bytes(b)


def frame(data: bytes, rng: random.Random) -> None:
    """Feed raw (mutated) bytes to a stream framer in random chunks."""
    framer = StreamFramer(max_size=rng.choice([300, 65535]), pongs=rng.random() < 0.5)
    pos = 0
    try:
        while pos < len(data):
            step = rng.randint(1, 300)
            framer.feed(data[pos : pos + step])
            pos += step
            while (ev := framer.next_event()) is not None:
                if not isinstance(ev, KeepAlive):
                    ev.to_bytes()
    except ParseError:
        pass


def exercise(data: bytes, rng: random.Random) -> str:
    """Drive every entry point; return the verdict. Only ParseError may be raised inside."""
    if rng.random() < 0.2:
        frame(data + rng.choice(SEEDS_CACHE), rng)
    try:
        msg = parse_message(data, eager=rng.random() < 0.7)
    except ParseError as e:
        if e.request is not None:  # answering it must work whatever the headers hold
            reply = make_response(e.request, e.status_code, e.reason, to_tag="t", headers=e.headers)
            assert reply.to_bytes().startswith(b"SIP/2.0 ")
        return f"{e.status_code}"
    try:
        msg.validate()
        if msg.is_request:
            str(msg.uri)
            check_request(msg, role=rng.choice(["proxy", "uas"]), content_types=["application/sdp"])
        for v in msg.vias:
            v.response_address(), v.is_rfc3261, str(v.with_params(received="192.0.2.9"))
        for c in msg.contacts + msg.routes + msg.record_routes:
            c.expires, c.q, str(c.with_params(x="1")), c.uri and parse_uri(str(c.uri))
        assert isinstance(msg.authorizations + msg.proxy_authorizations, list)
        for name, _ in msg.headers:
            msg.headers.get_all(name)
    except ParseError:
        pass
    wire = msg.to_bytes()
    again = parse_message(wire, eager=False)  # must not fail: we wrote it
    if again != msg:
        raise AssertionError("round trip changed the message")
    framer = StreamFramer()
    stream = wire + b"\r\n\r\n" + wire
    pos = 0
    try:
        while pos < len(stream):
            step = rng.randint(1, 200)
            framer.feed(stream[pos : pos + step])
            pos += step
            while framer.next_event() is not None:
                pass
    except ParseError:
        pass
    return "ok"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--crash-dir", default="/tmp/kamtool-fuzz-crashes")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    seeds = load_seeds()
    crash_dir = pathlib.Path(args.crash_dir)
    deadline = time.monotonic() + args.minutes * 60
    verdicts: collections.Counter[str] = collections.Counter()
    crashes = 0
    n = 0
    started = time.monotonic()
    while time.monotonic() < deadline:
        for _ in range(200):
            data = mutate(rng, rng.choice(seeds), seeds)
            n += 1
            try:
                verdicts[exercise(data, rng)] += 1
            except Exception:  # the point of the fuzzer: report anything but ParseError
                crashes += 1
                crash_dir.mkdir(parents=True, exist_ok=True)
                path = crash_dir / f"crash-{args.seed}-{n}.bin"
                path.write_bytes(data)
                print(f"UNEXPECTED exception on input {path}:", file=sys.stderr)
                traceback.print_exc()
    elapsed = time.monotonic() - started
    print(
        f"iterations={n} seconds={elapsed:.0f} rate={n / elapsed:.0f}/s "
        f"unexpected_exceptions={crashes} verdicts={dict(verdicts.most_common())}"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
