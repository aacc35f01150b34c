"""What an RPC or TCP attack does to SIP, seen from outside: an OPTIONS keepalive to the
proxy every few milliseconds over UDP, each answer timed; plus filling a proxy's location
table over JSON-RPC. Used by tests/chaos and bench/rpc_stall.py."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path


class OptionsProbe:
    """OPTIONS to ``127.0.0.1:port`` every ``every`` seconds from one UDP socket."""

    def __init__(self, port: int, every: float = 0.01) -> None:
        self.port = port
        self.every = every
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._tx, self._rx)]

    def __enter__(self) -> OptionsProbe:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.sock.close()

    def _tx(self) -> None:
        lport = self.sock.getsockname()[1]
        n = 0
        while not self._stop.is_set():
            n += 1
            cid = f"probe-{n}"
            msg = (
                f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKprobe{n}\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:127.0.0.1:{self.port}>\r\n"
                f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            self.sent[cid] = time.monotonic()
            self.sock.sendto(msg.encode(), ("127.0.0.1", self.port))
            time.sleep(self.every)

    def _rx(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, OSError):
                continue
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"call-id:"):
                    cid = line.split(b":", 1)[1].strip().decode()
                    self.answered.setdefault(cid, time.monotonic())

    def delays(self, start: float, end: float) -> list[float]:
        """Round trips (s) of the probes sent in ``[start, end]``; inf for unanswered."""
        return [
            self.answered.get(cid, float("inf")) - t
            for cid, t in list(self.sent.items())
            if start <= t <= end
        ]

    def answered_between(self, start: float, end: float) -> int:
        """How many answers arrived in ``[start, end]``."""
        return sum(1 for t in list(self.answered.values()) if start <= t <= end)


def post(url: str, doc: object, timeout: float = 300) -> bytes:
    """POST a JSON-RPC document; the raw answer (HTTP errors too)."""
    req = urllib.request.Request(
        url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        return exc.read()


def fill_contacts(url: str, count: int, domain: str = "127.0.0.1", per_batch: int = 1000) -> None:
    """``count`` contacts (one per AoR) with ``ul.add`` batches."""
    for start in range(0, count, per_batch):
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "ul.add",
             "params": ["location", f"u{i}@{domain}", f"sip:u{i}@10.{i >> 16 & 255}."
                        f"{i >> 8 & 255}.{i & 255}:5060", 3600, 1, "", 0, 0, 4294967295]}
            for i in range(start, min(count, start + per_batch))
        ]  # fmt: skip
        answers = json.loads(post(url, batch))
        bad = [a for a in answers if "error" in a]
        assert not bad, bad[:3]


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
