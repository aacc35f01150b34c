"""A seeded mutation engine for SIP messages (no third-party fuzzer): realistic valid
messages are split into start line, headers and body, and damaged the way broken or
hostile peers damage them -- nasty header values (huge or negative numbers, NUL bytes,
unicode, bad escapes, IPv6 literals, odd schemes, params without values, unterminated
quotes), duplicated or missing headers, compact names, folded lines, start-line damage,
Content-Length mismatches, very long values and raw byte flips.

Everything draws from the ``random.Random`` it is given, so a seed replays a run.
The live driver is :mod:`tests.support.sip_fuzz_live`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

NUMBERS = [
    "0", "-1", "-0", "1", "00000000000000000001", "4294967295", "4294967296", "2147483648",
    "-2147483649", "18446744073709551616", "99999999999999999999999999999", "1e9", "0x10",
    "1.5", "+5", " 7 ", "", "٣", "１２", "NaN", "inf", "9" * 400,
]  # fmt: skip

VALUES = [
    "", " ", "\t", "\x00", "a\x00b", "%", "%zz", "%00", "%%41", "\\", "\\\"", "é中😀",
    "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), "\xff\xfe", "[::1]", "::1",
    "[::1", "::1]", "[::1]:5060", "[fe80::1%25lo]", "[::ffff:127.0.0.1]:0", "[]", "[:::]",
    "sips:", "tel:+1-555", "mailto:a@b", "http://x/", "urn:uuid:1", "im:x@y", "<>", "<", ">",
    "<<sip:a@b>>", '"', '"unterminated', '"a\\', "'", ";", ";;", ";a", ";a=", ";=b", "=",
    ";tag", ";tag=", ";tag=a;tag=b", ";branch", ";branch=", ";branch=z9hG4bK", ";rport=abc",
    ";rport=99999", ";received=::1", ";received=", ";maddr=", ";maddr=[::1]", ";lr;lr",
    ";expires=-5", ";expires=99999999999", ";q=2", ";q=abc", ";transport=", ";transport=ws",
    "sip:", "sip:@", "sip:a@", "sip:@b", "sip:a@b:", "sip:[::1]:99999", "sip:a@b:-1",
    "sip:a@b:0", "sip:a@b:65536", "sip:a@[::1", "sip:a@::1", "sip:a@b;transport=",
    "sip:%41@b", "sip:a@b?", "sip:a@b?x", "sip:a@b?=&", "sip:a:@b", "sip:a@b;;;",
    "sip:a@b;=", "sips:a@[2001:db8::1]:5061;transport=tcp", "*", "*,*", ",", ",,", ", ,",
    "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/2.0/UDP 127.0.0.1:0", "SIP/2.0/XYZ 1.2.3.4",
    "SIP/3.0/UDP h", "SIP/2.0/UDP [::1];branch=z9hG4bKx", "SIP/2.0/TCP 127.0.0.1:-1",
    "SIP/2.0/WS abc.invalid;branch=z9hG4bKw", "SIP/2.0/UDP h;rport;rport;branch=a;branch=b",
    "Digest", "Digest ", "Digest ,", 'Digest username="', "Digest nonce=,",
    'Digest username="1001",realm=,nonce="",uri="",response=""', "Basic YTpi", "Digest a=b=c",
    'Digest username="1001", nc=zzzzzzzz, qop=auth', "Digest algorithm=SHA-512-256",
    "x" * 70000, "a," * 3000, ";p" * 3000, "<sip:a@b>;" * 500,
]  # fmt: skip

COMPACT = {
    "via": "v", "from": "f", "to": "t", "call-id": "i", "contact": "m", "content-length": "l",
    "content-type": "c", "subject": "s", "supported": "k", "event": "o", "refer-to": "r",
    "allow-events": "u", "session-expires": "x", "referred-by": "b", "content-encoding": "e",
}  # fmt: skip

# headers the fuzzer adds or duplicates (each with a plausible value to damage)
EXTRA = {
    "Via": "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKextra;rport",
    "Route": "<sip:127.0.0.1;lr>",
    "Record-Route": "<sip:10.0.0.1;lr;ftag=x>",
    "Contact": "<sip:x@127.0.0.1:5099>;expires=60",
    "Expires": "3600",
    "Max-Forwards": "70",
    "Content-Length": "0",
    "Authorization": 'Digest username="1001", realm="127.0.0.1", nonce="abc", uri="sip:x", '
    'response="00000000000000000000000000000000"',
    "Proxy-Authorization": 'Digest username="1001", realm="127.0.0.1", nonce="n", uri="sip:x",'
    ' response="0"',
    "Event": "presence;id=1",
    "Subscription-State": "active;expires=60",
    "Refer-To": "<sip:1003@127.0.0.1?Replaces=abc%3Bto-tag%3D1>",
    "RSeq": "1",
    "RAck": "1 1 INVITE",
    "Session-Expires": "1800;refresher=uac",
    "Min-SE": "90",
    "Supported": "timer, 100rel, path, outbound, gruu",
    "Require": "100rel",
    "Proxy-Require": "sec-agree",
    "Path": "<sip:10.0.0.2;lr>",
    "Content-Type": "application/sdp",
    "Allow": "INVITE, ACK",
    "P-Asserted-Identity": "<sip:1001@127.0.0.1>",
    "Reason": 'SIP;cause=200;text="x"',
    "Replaces": "abc;to-tag=1;from-tag=2",
    "X-Empty": "",
}


@dataclass
class Msg:
    """A message cut into pieces the mutations work on (headers keep their order)."""

    start: str
    headers: list[list[str]] = field(default_factory=list)
    body: bytes = b""
    sep: str = "\r\n"  # the line ending (some mutations use bare LF)
    length: str | None = None  # a forced Content-Length value (None: the body's)

    def render(self) -> bytes:
        lines = [self.start]
        for name, value in self.headers:
            if name.lower() in ("content-length", "l") and self.length is None:
                value = str(len(self.body))  # (a wrong one is _length's business)
            lines.append(f"{name}: {value}" if name else value)
        head = self.sep.join(lines) + self.sep + self.sep
        return head.encode("utf-8", "surrogateescape") + self.body


def parse(raw: bytes) -> Msg:
    """Split a well-formed message (one this module or a peer built) into a :class:`Msg`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "surrogateescape").split("\r\n")
    msg = Msg(lines[0], body=body)
    for line in lines[1:]:
        name, _, value = line.partition(":")
        msg.headers.append([name.strip(), value.strip()])
    return msg


def _nasty_number(rng: random.Random) -> str:
    return rng.choice(NUMBERS)


def _nasty_value(rng: random.Random) -> str:
    return rng.choice(VALUES) if rng.random() < 0.8 else _nasty_number(rng)


def _pick(rng: random.Random, msg: Msg) -> list[str] | None:
    return rng.choice(msg.headers) if msg.headers else None


def _set_value(rng: random.Random, msg: Msg) -> None:
    if h := _pick(rng, msg):
        h[1] = _nasty_value(rng)


def _splice(rng: random.Random, msg: Msg) -> None:
    """A nasty token into a value: the rest of the value still looks right."""
    if h := _pick(rng, msg):
        i = rng.randint(0, len(h[1]))
        cut = rng.randint(0, 3) if rng.random() < 0.3 else 0
        h[1] = h[1][:i] + _nasty_value(rng) + h[1][i + cut :]


def _renumber(rng: random.Random, msg: Msg) -> None:
    """A number of a header (CSeq, Expires, ports, q, RAck...) becomes a nasty one."""
    cands = [h for h in msg.headers if re.search(r"\d", h[1])]
    if cands:
        h = rng.choice(cands)
        spans = [m.span() for m in re.finditer(r"\d+(?:\.\d+)?", h[1])]
        a, b = rng.choice(spans)
        h[1] = h[1][:a] + _nasty_number(rng) + h[1][b:]


def _param(rng: random.Random, msg: Msg) -> None:
    """Params without values, duplicated params, params on odd places."""
    if h := _pick(rng, msg):
        name = rng.choice(["tag", "branch", "lr", "expires", "q", "rport", "received", "maddr",
                           "transport", "ob", "reg-id", "+sip.instance", "alias", "ftag",
                           "x"])  # fmt: skip
        suffix = rng.choice(["", "=", "=" + _nasty_value(rng)[:40], '="unterminated', "=a=b"])
        if rng.random() < 0.5 and ">" in h[1]:
            i = h[1].rfind(">") if rng.random() < 0.5 else h[1].find(">")
            h[1] = h[1][:i] + f";{name}{suffix}" + h[1][i:]
        else:
            h[1] += f";{name}{suffix}" * rng.randint(1, 3)


def _duplicate(rng: random.Random, msg: Msg) -> None:
    if rng.random() < 0.5 and msg.headers:
        h = _pick(rng, msg)
        assert h is not None
        new = [h[0], h[1] if rng.random() < 0.5 else _nasty_value(rng)]
    else:
        name = rng.choice(list(EXTRA))
        new = [name, EXTRA[name]]
    msg.headers.insert(rng.randint(0, len(msg.headers)), new)


def _remove(rng: random.Random, msg: Msg) -> None:
    if msg.headers:
        name = _pick(rng, msg)[0].lower()  # type: ignore[index]
        keep_some = rng.random() < 0.5
        msg.headers = [h for h in msg.headers if h[0].lower() != name or (keep_some and
                       rng.random() < 0.5)]  # fmt: skip


def _compact(rng: random.Random, msg: Msg) -> None:
    for h in msg.headers:
        if h[0].lower() in COMPACT and rng.random() < 0.6:
            h[0] = COMPACT[h[0].lower()]


def _fold(rng: random.Random, msg: Msg) -> None:
    if (h := _pick(rng, msg)) and h[1]:
        i = rng.randint(0, len(h[1]))
        h[1] = h[1][:i] + rng.choice(["\r\n ", "\r\n\t", "\r\n", "\n ", "\r\n \r\n "]) + h[1][i:]


def _name(rng: random.Random, msg: Msg) -> None:
    """Damage a header name: case, spaces before the colon, no name, no colon."""
    if h := _pick(rng, msg):
        h[0] = rng.choice([h[0].upper(), h[0] + " ", h[0] + "\t", "", h[0] + ":", h[0][:1],
                           h[0] + "\x00", " " + h[0], "é" + h[0]])  # fmt: skip
        if rng.random() < 0.2:
            h[0], h[1] = "", h[1]  # a line without a colon


def _start(rng: random.Random, msg: Msg) -> None:
    parts = msg.start.split(" ")
    i = rng.randrange(len(parts))
    kind = rng.random()
    if kind < 0.4:
        parts[i] = _nasty_value(rng) if rng.random() < 0.7 else _nasty_number(rng)
    elif kind < 0.55:
        del parts[i]
    elif kind < 0.7:
        parts.insert(i, rng.choice(["", " ", "SIP/2.0", "x"]))
    elif kind < 0.85:
        parts[i] = parts[i] + _nasty_value(rng)[:60]
    else:
        parts[i] = parts[i].lower() if rng.random() < 0.5 else parts[i] * 2
    msg.start = " ".join(parts)


def _length(rng: random.Random, msg: Msg) -> None:
    n = len(msg.body)
    msg.length = rng.choice([str(n + 1), str(max(n - 1, 0)), str(n + 5000), "-1", "abc", "",
                             str(2**31), "0", _nasty_number(rng)])  # fmt: skip
    if not any(h[0].lower() in ("content-length", "l") for h in msg.headers):
        msg.headers.append(["Content-Length", msg.length])
    for h in msg.headers:
        if h[0].lower() in ("content-length", "l"):
            h[1] = msg.length
    if rng.random() < 0.3:
        msg.body += rng.choice([b"x", b"\r\n", b"\x00" * 10, b"v=0\r\n" * 3])


def _body(rng: random.Random, msg: Msg) -> None:
    """A damaged SDP or other body: truncated, binary, huge lines, odd m= lines."""
    choice = rng.random()
    if choice < 0.3 and msg.body:
        msg.body = msg.body[: rng.randrange(len(msg.body))]
    elif choice < 0.6:
        msg.body += rng.choice([
            b"m=audio -1 RTP/AVP 0\r\n", b"c=IN IP6 ::1\r\n", b"c=IN IP4\r\n", b"m=\r\n",
            b"a=rtpmap:\r\n", b"o=- 1 1 IN IP4 [::1]\r\n", b"\xff\xfe\x00\r\n",
            b"m=audio 99999999999 RTP/AVP 0\r\n", b"a=candidate:" + b"x" * 3000 + b"\r\n",
        ])  # fmt: skip
    else:
        kinds = [
            "application/sdp",
            "text/plain",
            "",
            "multipart/mixed;boundary=",
            "application/sdp;charset=\x00",
        ]
        msg.headers.append(["Content-Type", rng.choice(kinds)])


def _long(rng: random.Random, msg: Msg) -> None:
    if rng.random() < 0.5 and (h := _pick(rng, msg)):
        h[1] = h[1] + "a" * rng.choice([300, 4000, 20000, 65000])
    else:
        msg.headers.extend([["X-Pad", "p" * 50]] * rng.choice([100, 1000]))


def _endings(rng: random.Random, msg: Msg) -> None:
    msg.sep = rng.choice(["\n", "\r", "\r\r\n", "\n\r"])


MUTATIONS = [
    (_set_value, 12), (_splice, 14), (_renumber, 10), (_param, 10), (_duplicate, 10),
    (_remove, 9), (_compact, 3), (_fold, 4), (_name, 4), (_start, 6), (_length, 4),
    (_body, 4), (_long, 2), (_endings, 1),
]  # fmt: skip
_FUNCS = [f for f, _ in MUTATIONS]
_WEIGHTS = [w for _, w in MUTATIONS]


def _bytes(rng: random.Random, raw: bytes) -> bytes:
    """Raw damage after rendering: byte flips, a NUL, a cut."""
    data = bytearray(raw)
    kind = rng.random()
    if kind < 0.5 and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind < 0.75 and data:
        data.insert(rng.randrange(len(data)), 0)
    elif data:
        del data[rng.randrange(len(data)) :]
    return bytes(data)


def mutate(rng: random.Random, raw: bytes, strength: int = 0) -> bytes:
    """``raw`` with 1-3 (or ``strength``) structured mutations, sometimes byte damage."""
    msg = parse(raw)
    for _ in range(strength or rng.choice([1, 1, 1, 2, 2, 3])):
        rng.choices(_FUNCS, _WEIGHTS)[0](rng, msg)
    out = msg.render()
    return _bytes(rng, out) if rng.random() < 0.06 else out
