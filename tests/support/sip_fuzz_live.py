"""Drive :mod:`tests.support.sip_fuzz` against a running ``kamtool serve`` over loopback
UDP, TCP and WebSocket: realistic requests of every method, mutated; REGISTERs that pass
digest and then have mutated Contact/Expires/Path/Supported; calls to a registered UDP
phone (this process) answered with mutated 18x/200/486 and followed by mutated
ACK/re-INVITE/BYE; CANCELs of pending INVITEs.

The proxy must run with ``--no-pike`` and ``auth_fail_limit = 0`` (:data:`PROXY_TOML`):
every message comes from 127.0.0.1, and a ban would hide everything after it. Run long
by hand (``python -m tests.support.sip_fuzz_live --count 20000 --seed 1``); the bounded
regression run is tests/chaos/test_fuzz_live.py.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
import socket
import time
from collections import deque

from kamtool.sip.digest import answer_challenge
from kamtool.sip.digest_header import parse_challenge
from tests.support.sip_fuzz import mutate, parse

PROXY_TOML = "auth_fail_limit = 0\n"
EXTRA_ARGS = ("--no-pike",)
PASSWORD = {"1001": "secret1001", "1002": "secret1002"}
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)
BAD_LOG = re.compile(r"Traceback|exception|Task exception was never retrieved| ERROR ", re.I)
REG_HEADERS = {"contact", "m", "expires", "path", "supported", "k", "require", "to", "t"}


def _req(method: str, ruri: str, proto: str, lport: int, n: int, *, frm: str = "sip:fz@example.com",
         to: str | None = None, to_tag: str = "", cseq: int = 1, call_id: str = "",
         extra: tuple[str, ...] = (), body: bytes = b"", branch: str = "") -> bytes:  # fmt: skip
    to = to or ruri
    head = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{proto} 127.0.0.1:{lport};branch={branch or f'z9hG4bKfz{n}'};rport",
        "Max-Forwards: 70",
        f"From: <{frm}>;tag=f{n}",
        f"To: <{to}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {call_id or f'fz-{n}'}@127.0.0.1",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:fz@127.0.0.1:{lport};transport={proto.lower()}>",
        "User-Agent: kamtool-fuzz",
        *extra,
    ]
    if body:
        head.append("Content-Type: application/sdp" if body.startswith(b"v=") else
                    "Content-Type: text/plain")  # fmt: skip
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


sip_request = _req  # for tests that build their own messages


def templates(proto: str, lport: int, n: int) -> list[bytes]:
    """A valid message of each kind the proxy routes (requests and stray responses)."""
    me = "sip:127.0.0.1"
    rr = ("Route: <sip:127.0.0.1;lr;ftag=f1>",)
    return [
        _req("REGISTER", me, proto, lport, n, frm="sip:1001@127.0.0.1", to="sip:1001@127.0.0.1",
             extra=("Expires: 60", "Supported: path, outbound")),
        _req("REGISTER", me, proto, lport, n, frm="sip:1003@127.0.0.1", to="sip:1003@127.0.0.1",
             extra=('Authorization: Digest username="1003", realm="127.0.0.1", nonce="abc", '
                    'uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef"',)),
        _req("INVITE", "sip:1002@127.0.0.1", proto, lport, n, body=SDP,
             extra=("Supported: timer, 100rel", "Session-Expires: 1800", "Allow: INVITE, ACK")),
        _req("INVITE", "sip:1001@127.0.0.1", proto, lport, n, frm="sip:1002@127.0.0.1", body=SDP),
        _req("INVITE", "sip:9001@127.0.0.1", proto, lport, n, body=SDP),
        _req("ACK", "sip:1002@127.0.0.1:5999", proto, lport, n, to_tag="x", extra=rr),
        _req("BYE", "sip:1002@127.0.0.1:5999", proto, lport, n, to_tag="x", cseq=2, extra=rr),
        _req("CANCEL", "sip:1002@127.0.0.1", proto, lport, n),
        _req("OPTIONS", me, proto, lport, n),
        _req("OPTIONS", "sip:1002@127.0.0.1", proto, lport, n),
        _req("MESSAGE", "sip:1002@127.0.0.1", proto, lport, n, body=b"hello"),
        _req("SUBSCRIBE", "sip:1002@127.0.0.1", proto, lport, n,
             extra=("Event: presence", "Expires: 600", "Accept: application/pidf+xml")),
        _req("NOTIFY", "sip:1002@127.0.0.1:5999", proto, lport, n, to_tag="x",
             extra=(*rr, "Event: presence;id=7", "Subscription-State: active;expires=599")),
        _req("PRACK", "sip:1002@127.0.0.1:5999", proto, lport, n, to_tag="x", cseq=2,
             extra=(*rr, "RAck: 1 1 INVITE")),
        _req("UPDATE", "sip:1002@127.0.0.1:5999", proto, lport, n, to_tag="x", cseq=3, body=SDP,
             extra=(*rr, "Session-Expires: 90;refresher=uas", "Min-SE: 90", "Require: timer")),
        _req("INFO", "sip:1002@127.0.0.1", proto, lport, n, body=b"Signal=1\r\nDuration=100\r\n"),
        _req("REFER", "sip:1002@127.0.0.1", proto, lport, n, extra=(
            "Refer-To: <sip:1003@127.0.0.1?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            "Referred-By: <sip:fz@example.com>")),
        _req("PUBLISH", "sip:1002@127.0.0.1", proto, lport, n, extra=("Event: presence",)),
        (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/{proto} 127.0.0.1:{lport};branch=z9hG4bKnope{n}\r\n"
         f"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray{n}\r\n"
         "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode(),
    ]  # fmt: skip


def reply_to(req: bytes, code: int, reason: str, *, tag: str = "uas", contact: str = "",
             body: bytes = b"", extra: tuple[str, ...] = ()) -> bytes:  # fmt: skip
    """The UAS's response to a request it received (Via, Record-Route copied)."""
    msg = parse(req)
    keep = [h for h in msg.headers if h[0].lower() in ("via", "v", "record-route", "from", "f",
                                                        "call-id", "i", "cseq")]  # fmt: skip
    lines = [f"SIP/2.0 {code} {reason}", *(f"{n}: {v}" for n, v in keep)]
    to = next((v for n, v in msg.headers if n.lower() in ("to", "t")), "<sip:x@y>")
    lines.append(f"To: {to}" + (f";tag={tag}" if code > 100 and ";tag=" not in to else ""))
    if contact:
        lines.append(f"Contact: <{contact}>")
    lines += [*extra, *(["Content-Type: application/sdp"] if body else []),
              f"Content-Length: {len(body)}"]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def _ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (RFC 6455 section 5.2), any length."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Link:
    """One client transport to the proxy: a UDP socket, a TCP or a WebSocket connection
    (reopened when the proxy closes it, as it may after garbage)."""

    def __init__(self, proto: str, port: int, ws_port: int = 0) -> None:
        self.proto, self.port, self.ws_port = proto, port, ws_port
        self.sock: socket.socket | None = None
        self.lport = 0
        self.reopen()

    def reopen(self) -> None:
        if self.sock:
            self.sock.close()
        kind = socket.SOCK_DGRAM if self.proto == "UDP" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        if self.proto == "UDP":
            s.connect(("127.0.0.1", self.port))
        else:
            s.connect(("127.0.0.1", self.ws_port if self.proto == "WS" else self.port))
        if self.proto == "WS":
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n".encode()
            )
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("WebSocket upgrade refused")
                answer += chunk
        self.sock, self.lport = s, s.getsockname()[1]

    def close(self) -> None:
        if self.sock:
            self.sock.close()

    def send(self, data: bytes) -> None:
        payload = _ws_frame(data) if self.proto == "WS" else data
        for _ in range(2):
            try:
                assert self.sock is not None
                if self.proto == "UDP":
                    self.sock.send(payload[:65000])
                elif self.proto == "TCP" and len(payload) > 8 and payload[0] % 4 == 0:
                    cut = len(payload) // 3  # (sometimes) in pieces: the framer's buffering
                    for piece in (payload[:cut], payload[cut : 2 * cut], payload[2 * cut :]):
                        self.sock.sendall(piece)
                        time.sleep(0.0005)
                else:
                    self.sock.sendall(payload)
                return
            except OSError:
                self.reopen()

    def recv(self, wait: float) -> list[bytes]:
        """What arrived within ``wait`` seconds (UDP: datagrams; streams: raw chunks)."""
        got: list[bytes] = []
        end = time.monotonic() + wait
        assert self.sock is not None
        while True:
            left = end - time.monotonic()
            self.sock.settimeout(max(left, 0.0005))
            try:
                data = self.sock.recv(70000)
            except (TimeoutError, BlockingIOError):
                return got
            except OSError:
                self.reopen()
                return got
            if not data:
                self.reopen()
                return got
            got.append(data)
            if left <= 0:
                return got
            end = min(end, time.monotonic() + 0.01)  # got something: just drain the rest


def _responses(chunks: list[bytes]) -> list[bytes]:
    """Whole SIP responses out of received chunks (WS frames: stripped to their text)."""
    text = b"".join(chunks)
    return [b"SIP/2.0 " + m for m in text.split(b"SIP/2.0 ")[1:] if m[:3].isdigit()]


def _hdrs(msg: bytes, *names: str) -> list[str]:
    out = []
    for line in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("utf-8", "surrogateescape").partition(":")
        if name.strip().lower() in names:
            out.append(value.strip())
    return out


def _hdr(msg: bytes, *names: str) -> str:
    return next(iter(_hdrs(msg, *names)), "")


class Fuzzer:
    """Seeded scenarios against one proxy; :meth:`run` sends about ``count`` messages."""

    def __init__(self, seed: int, sip_port: int, protos: tuple[str, ...] = ("UDP", "TCP"),
                 ws_port: int = 0) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.seed, self.port = seed, sip_port
        self.links = {p: Link(p, sip_port, ws_port) for p in protos}
        self.uas = Link("UDP", sip_port)  # the phone of user 1002
        self.n = seed * 1_000_000
        self.sent = 0
        self.recent: deque[tuple[str, bytes]] = deque(maxlen=60)  # for triage
        self.last_invite: bytes | None = None  # what the phone got last

    def _send(self, link: Link, data: bytes) -> None:
        self.recent.append((link.proto, data))
        self.sent += 1
        link.send(data)

    def _nid(self) -> int:
        self.n += 1
        return self.n

    # ----------------------------------------------------------------- registration

    def register(self, link: Link, user: str, contact_port: int, mutated: bool) -> None:
        """REGISTER with correct digest credentials; ``mutated``: damage the binding part."""
        n = self._nid()
        extra = [f"Expires: {3600 if not mutated else 60}", "Supported: path, outbound"]
        if mutated and self.rng.random() < 0.5:
            extra.append("Path: <sip:127.0.0.1:5999;lr>")
        base = _req(
            "REGISTER",
            "sip:127.0.0.1",
            link.proto,
            link.lport,
            n,
            frm=f"sip:{user}@127.0.0.1",
            to=f"sip:{user}@127.0.0.1",
            extra=tuple(extra),
        )
        mine = f"<sip:fz@127.0.0.1:{link.lport};transport={link.proto.lower()}>"
        base = base.replace(mine.encode(), f"<sip:{user}@127.0.0.1:{contact_port}>".encode())
        link.recv(0)
        self._send(link, base)
        challenge = next((r for r in _responses(link.recv(1.0)) if r.startswith(b"SIP/2.0 401")),
                         None)  # fmt: skip
        if challenge is None:
            return
        try:
            ch = parse_challenge(_hdr(challenge, "www-authenticate"))
        except ValueError:
            return  # (a 401 of the phone's, relayed: not the registrar's challenge)
        creds = answer_challenge(ch, method="REGISTER", uri="sip:127.0.0.1", username=user,
                                 password=PASSWORD[user], cnonce="fz" + str(n))  # fmt: skip
        msg = parse(base.replace(b"CSeq: 1 ", b"CSeq: 2 "))
        msg.headers.insert(5, ["Authorization", creds.to_header()])
        raw = msg.render()
        if mutated:
            raw = self._mutate_only(raw, REG_HEADERS)
        self._send(link, raw)
        link.recv(0.05)

    def _mutate_only(self, raw: bytes, names: set[str]) -> bytes:
        """Mutate until only headers in ``names`` changed (digest stays valid); 20 tries."""
        base = parse(raw)
        keep = [h for h in base.headers if h[0].lower() not in names]
        for _ in range(20):
            out = mutate(self.rng, raw)
            got = parse(out) if b"\r\n\r\n" in out else None
            if got and got.start == base.start and [h for h in got.headers if h[0].lower()
                                                    not in names] == keep:  # fmt: skip
                return out
        return raw

    # ----------------------------------------------------------------- calls

    def _uas_answer(self, wait: float, final: bool = True) -> list[bytes]:
        """Answer what reached the phone: INVITE 180 + 200/486, others 200 (all maybe
        mutated); returns the requests."""
        reqs = [d for d in self.uas.recv(wait) if not d.startswith(b"SIP/2.0")]
        rng = self.rng
        for req in reqs:
            method = req.split(b" ", 1)[0].decode(errors="replace")
            if method == "ACK":
                continue
            outs: list[bytes] = []
            contact = f"sip:1002@127.0.0.1:{self.uas.lport}"
            if method == "INVITE":
                self.last_invite = req
                outs.append(reply_to(req, rng.choice([100, 180, 183]), "Ringing", contact=contact,
                                     extra=("Require: 100rel", "RSeq: 1") if rng.random() < .2
                                     else ()))  # fmt: skip
                if final:
                    code = rng.choice([200, 200, 486, 401, 302, 503, 603])
                    outs.append(reply_to(req, code, "X", contact=contact,
                                         body=SDP if code == 200 else b""))  # fmt: skip
            else:
                outs.append(reply_to(req, rng.choice([200, 200, 481, 405]), "OK", contact=contact))
            for out in outs:
                self._send(self.uas, mutate(rng, out) if rng.random() < 0.5 else out)
        return reqs

    def _proxy_auth(self, link: Link, invite: bytes, n: int) -> bytes:
        """The INVITE of user 1001 again with the credentials its 407 asks for (after
        the hop-by-hop ACK of the 407); unchanged without a challenge."""
        self._send(link, invite)
        c = next((r for r in _responses(link.recv(1.0)) if r.startswith(b"SIP/2.0 407")), None)
        if c is None:
            return invite
        to_tag = re.sub(r".*;tag=([^;>\s]*).*", r"\1", _hdr(c, "to", "t"))
        self._send(link, _req("ACK", "sip:1002@127.0.0.1", link.proto, link.lport, n,
                              frm="sip:1001@127.0.0.1", to_tag=to_tag))  # fmt: skip
        try:
            ch = parse_challenge(_hdr(c, "proxy-authenticate"))
        except ValueError:
            return invite
        creds = answer_challenge(ch, method="INVITE", uri="sip:1002@127.0.0.1", username="1001",
                                 password=PASSWORD["1001"], cnonce=f"c{n}")  # fmt: skip
        msg = parse(invite.replace(b"CSeq: 1 ", b"CSeq: 2 ").replace(b"z9hG4bKfz", b"z9hG4bKa"))
        msg.headers.insert(5, ["Proxy-Authorization", creds.to_header()])
        return msg.render()

    def call(self, link: Link, cancel: bool) -> None:
        rng, n = self.rng, self._nid()
        local = rng.random() < 0.3  # a call of user 1001: digest (407) first
        invite = _req("INVITE", "sip:1002@127.0.0.1", link.proto, link.lport, n, body=SDP,
                      frm="sip:1001@127.0.0.1" if local else "sip:fz@example.com",
                      extra=("Supported: 100rel, timer",))  # fmt: skip
        self.uas.recv(0)
        link.recv(0)
        if local:
            invite = self._proxy_auth(link, invite, n)
        self._send(link, mutate(rng, invite) if rng.random() < 0.2 else invite)
        self._uas_answer(0.3, final=not cancel)
        if cancel:
            cancel_msg = _req("CANCEL", "sip:1002@127.0.0.1", link.proto, link.lport, n)
            self._send(link, mutate(rng, cancel_msg) if rng.random() < 0.6 else cancel_msg)
            for req in self._uas_answer(0.2, final=False):
                if req.startswith(b"CANCEL"):
                    continue  # answered 200 by _uas_answer
            self._uas_final(487)
        replies = _responses(link.recv(0.2))
        ok = next((r for r in replies if r.startswith(b"SIP/2.0 200") and b"INVITE" in r), None)
        final = next((r for r in replies if r[8:9] in b"3456"), None)
        if ok is None:
            if final is not None:  # the ACK of a failure reply (hop by hop)
                ack = _req(
                    "ACK",
                    "sip:1002@127.0.0.1",
                    link.proto,
                    link.lport,
                    n,
                    to_tag=re.sub(r".*;tag=([^;>\s]*).*", r"\1", _hdr(final, "to", "t")),
                )
                self._send(link, mutate(rng, ack) if rng.random() < 0.3 else ack)
            return
        target = re.sub(r".*<([^>]*)>.*", r"\1", _hdr(ok, "contact", "m")) or "sip:x@127.0.0.1"
        tag = re.sub(r".*;tag=([^;>\s]*).*", r"\1", _hdr(ok, "to", "t"))
        route = tuple(f"Route: {v}" for v in [_hdr(ok, "record-route")] if v)
        first = int(_hdr(ok, "cseq").split(" ")[0] or 1) if _hdr(ok, "cseq")[:1].isdigit() else 1
        steps = [(first, "ACK"), (first + 1, rng.choice(["INVITE", "UPDATE", "INFO", "REFER",
                                                          "MESSAGE", "NOTIFY"]))]  # fmt: skip
        if rng.random() < 0.4 and self.last_invite is not None:
            self._send(link, _req("ACK", target, link.proto, link.lport, n, to_tag=tag,
                                  to="sip:1002@127.0.0.1", cseq=first, extra=route,
                                  branch=f"z9hG4bKd{n}a"))  # fmt: skip
            self._callee_request(tag)
            link.recv(0.05)
            return
        steps.append((first + 2, "BYE"))
        for cseq, method in steps:
            req = _req(method, target, link.proto, link.lport, n, to="sip:1002@127.0.0.1",
                       to_tag=tag, cseq=cseq, extra=route, branch=f"z9hG4bKd{n}{cseq}",
                       body=SDP if method == "INVITE" else b"")  # fmt: skip
            self._send(link, mutate(rng, req) if rng.random() < 0.5 else req)
            self._uas_answer(0.05)
            link.recv(0.02)

    def _callee_request(self, tag: str) -> None:
        """The phone's own request in the dialog of the INVITE it saw last (a BYE, a
        re-INVITE...): to the caller's Contact over the Record-Route set, maybe mutated."""
        inv = self.last_invite
        assert inv is not None
        rng = self.rng
        method = rng.choice(["BYE", "BYE", "INVITE", "INFO", "UPDATE", "NOTIFY"])
        contact = re.sub(r".*<([^>]*)>.*", r"\1", _hdr(inv, "contact", "m")) or "sip:x@h"
        lines = [f"{method} {contact} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.uas.lport};branch=z9hG4bKc{self._nid()}",
                 *(f"Route: {v}" for v in _hdrs(inv, "record-route")),
                 f"From: {_hdr(inv, 'to', 't')};tag={tag}", f"To: {_hdr(inv, 'from', 'f')}",
                 f"Call-ID: {_hdr(inv, 'call-id', 'i')}", f"CSeq: 7 {method}",
                 "Max-Forwards: 70", f"Contact: <sip:1002@127.0.0.1:{self.uas.lport}>",
                 "Content-Length: 0"]  # fmt: skip
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        self._send(self.uas, mutate(rng, req) if rng.random() < 0.5 else req)

    def _uas_final(self, code: int) -> None:
        """The phone's 487 for the INVITE it holds (the last one it saw)."""
        inv = self.last_invite
        if inv is not None:
            out = reply_to(inv, code, "Request Terminated")
            self._send(self.uas, mutate(self.rng, out) if self.rng.random() < 0.4 else out)

    # ----------------------------------------------------------------- the run

    def setup(self) -> None:
        """Register the phone (user 1002) at :attr:`uas`."""
        self.register(self.uas, "1002", self.uas.lport, mutated=False)

    def step(self) -> None:
        rng = self.rng
        link = self.links[rng.choice(sorted(self.links))]
        kind = rng.random()
        if kind < 0.08:
            self.register(link, "1001", link.lport, mutated=True)
        elif kind < 0.16:
            self.call(link, cancel=False)
        elif kind < 0.2:
            self.call(link, cancel=True)
        else:
            for _ in range(10):
                msg = rng.choice(templates(link.proto, link.lport, self._nid()))
                self._send(link, mutate(rng, msg))
            link.recv(0.005)
            self._uas_answer(0.001)

    def alive(self, wait: float = 3.0) -> bool:
        """An OPTIONS to the proxy over a fresh UDP socket is answered within ``wait``."""
        with contextlib.closing(Link("UDP", self.port)) as probe:
            probe.send(_req("OPTIONS", "sip:127.0.0.1", "UDP", probe.lport, self._nid()))
            return any(r.startswith(b"SIP/2.0 200") for r in _responses(probe.recv(wait)))

    def close(self) -> None:
        for link in [*self.links.values(), self.uas]:
            link.close()


def bad_log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if BAD_LOG.search(line)]


def main(argv: list[str] | None = None) -> int:
    """A long run by hand against a ``kamtool serve`` started as :data:`PROXY_TOML` and
    :data:`EXTRA_ARGS` say, with users 1001 and 1002 (:data:`PASSWORD`); its log is the
    place to look for tracebacks. Exit 1 when the proxy stops answering."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    for flag, default in (("--port", 5060), ("--ws-port", 0), ("--count", 20000), ("--seed", 1)):
        ap.add_argument(flag, type=int, default=default)
    ap.add_argument("--proto", default="UDP,TCP", help="UDP, TCP and/or WS, comma-separated")
    args = ap.parse_args(argv)
    fz = Fuzzer(args.seed, args.port, tuple(args.proto.upper().split(",")), args.ws_port)
    try:
        fz.setup()
        checked = 0
        while fz.sent < args.count:
            fz.step()
            if fz.sent - checked < 500:
                continue
            checked = fz.sent
            if not fz.alive():
                print(f"no answer after {fz.sent} messages; the last ones:")
                print(*list(fz.recent)[-10:], sep="\n")
                return 1
    finally:
        fz.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
