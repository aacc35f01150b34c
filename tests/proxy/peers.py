"""SIP peers for dispatcher tests: a UDP destination that records every request and answers
as told (or stays silent), and SIPp UAS instances that run until stopped."""

from __future__ import annotations

import socket
import subprocess
import threading
from typing import Any

from kamtool.sip.message import make_response
from kamtool.sip.parser import parse_message
from tests.proxy.harness import SIPP_DIR


class UdpPeer:
    """A destination on 127.0.0.1: ``answers[method]`` is the status it replies with
    (absent or None: silent); ACKs are recorded, never answered. ``received`` holds every
    request (parsed) in arrival order."""

    def __init__(self, answers: dict[str, int | None] | None = None) -> None:
        self.answers: dict[str, int | None] = dict(answers or {})
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.uri = f"sip:127.0.0.1:{self.port}"
        self.received: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                msg = parse_message(data)
            except Exception:
                continue
            if not msg.is_request:
                continue
            self.received.append(msg)
            status = self.answers.get(msg.method)
            if status is None or msg.method == "ACK":
                continue
            reply = make_response(msg, status, to_tag=f"peer{self.port}")
            self.sock.sendto(reply.to_bytes(), addr)

    def requests(self, method: str) -> list[Any]:
        return [m for m in list(self.received) if m.method == method]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def sipp_uas(scenario: str, port: int, *, calls: int | None = None) -> subprocess.Popen[str]:
    """A SIPp UAS on 127.0.0.1:``port`` answering OPTIONS by itself (``-aa``, as the
    reference capture's UAS did); ``calls``: exit after that many calls (every
    auto-answered OPTIONS counts as one for SIPp), else run until killed."""
    args = ["sipp", "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1", "-p", str(port),
            "-aa", "-nostdin", "-timeout", "60s"]  # fmt: skip
    if calls is not None:
        args += ["-m", str(calls)]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/tmp"
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill a SIPp started by :func:`sipp_uas` (if still running) and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)
