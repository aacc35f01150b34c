"""SIP peers of the KSR tests: sipsak and SIPp as an outside tester runs them, and the
hand-written peer of the interop battery (tests/interop/wire.py) for single requests."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.interop.wire import Msg, Peer, digest_answer, parse, register
from tests.support.kemi import need, run
from tests.support.ports import free_port

SIPP_DIR = Path(__file__).resolve().parent.parent / "sipp"


def sipsak_register(sip_port: int, user: str, contact_port: int, expires: int = 600):
    """sipsak's usrloc mode: REGISTER ``user`` (password ``secret<user>``) with one contact."""
    need("sipsak")
    return run(["sipsak", "-U", "-C", f"sip:{user}@127.0.0.1:{contact_port}", "-s",
                f"sip:{user}@127.0.0.1:{sip_port}", "-a", f"secret{user}", "-x", str(expires),
                "-vvv"], timeout=30)  # fmt: skip


def sipp_args(sip_port: int, scenario: str, port: int, *extra: str) -> list[str]:
    """A SIPp command line for one of tests/sipp's scenarios, bounded to 30 s."""
    return ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1",
            "-p", str(port), "-nostdin", "-timeout", "30s", "-timeout_error", *extra]  # fmt: skip


def sipp(sip_port: int, scenario: str, port: int, *extra: str) -> subprocess.CompletedProcess:
    need("sipp")
    return run(sipp_args(sip_port, scenario, port, *extra), timeout=60)


@contextmanager
def sipp_uas(sip_port: int, scenario: str, user: str, calls: int) -> Iterator[subprocess.Popen]:
    """A SIPp UAS (``scenario``) on its own port, registered as ``user`` from another socket
    first (the server must reach it at its contact); killed after the block if still up."""
    need("sipp")
    port = free_port()
    with Peer("udp", sip_port) as reg:
        ok = register(reg, user, [f"Contact: <sip:{user}@127.0.0.1:{port}>", "Expires: 600"])
        assert ok.status == 200, ok.first
    proc = subprocess.Popen(
        sipp_args(sip_port, scenario, port, "-m", str(calls)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/tmp",
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def ask_authenticated(
    peer: Peer,
    method: str,
    uri: str,
    user: str = "1001",
    *,
    headers: list[str] | None = None,
    body: str = "",
) -> tuple[Msg, Msg]:
    """Send a request from ``user``; if it is challenged with 407, send it again with
    credentials. Returns (first final reply, last final reply)."""
    call_id = f"ksr-{peer.port}-{method}-{free_port()}@127.0.0.1"
    extra = [*(headers or []), *(["Content-Type: text/plain"] if body else [])]

    def send(cseq: int, more: list[str]) -> Msg:
        data = peer.request(method, uri, from_user=user, call_id=call_id, cseq=cseq,
                            headers=[*extra, *more], body=body)  # fmt: skip
        return peer.ask(data)

    first = send(1, [])
    if first.status != 407:
        return first, first
    auth = digest_answer(first.get("proxy-authenticate"), method, uri, user, f"secret{user}")
    return first, send(2, [f"Proxy-Authorization: {auth}"])


class ForeignUA:
    """A UDP endpoint on 127.0.0.2 (not one of the server's addresses: a "foreign domain"
    on loopback) that answers every request but ACK with 200 and records it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.2", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[Msg] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            req = parse(data)
            if req.status or req.method == "ACK":
                continue
            self.received.append(req)
            lines = ["SIP/2.0 200 OK"]
            for name, value in req.headers:
                if name in ("via", "from", "call-id", "cseq"):
                    lines.append(f"{name.title()}: {value}")
                elif name == "to":
                    lines.append(f"To: {value};tag=foreign")
            lines.append("Content-Length: 0")
            self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), addr)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self) -> ForeignUA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ack_for(reply: Msg, uri: str) -> bytes:
    """The ACK of a non-2xx final ``reply`` to an INVITE sent to ``uri``: same Via branch,
    the reply's To tag (RFC 3261 17.1.1.3)."""
    lines = [
        f"ACK {uri} SIP/2.0",
        f"Via: {reply.get('via')}",
        f"From: {reply.get('from')}",
        f"To: {reply.get('to')}",
        f"Call-ID: {reply.get('call-id')}",
        f"CSeq: {reply.get('cseq').split()[0]} ACK",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def next_request(peer: Peer, method: str) -> Msg:
    """The next request ``method`` ``peer`` receives (replies and other requests skipped)."""
    while True:
        msg = peer.recv()
        if msg.method == method:
            return msg
