"""kamtool's ng requests equal to those of Kamailio 5.6's rtpengine module: a real
Kamailio sends its offers, answers and deletes to a loopback socket of the test, and
each must equal what :func:`kamtool.sip.ng.build_params` makes of the same message
and flags."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kamtool.sip import parse_message
from kamtool.sip.bencode import decode, encode
from kamtool.sip.ng import build_params, manage_action
from tests.edge.sdp import invite, reply, request
from tests.support.ports import free_port
from tests.support.require import unavailable

pytestmark = [pytest.mark.kamailio, pytest.mark.slow]

CFG = Path(__file__).with_name("kamailio-rtpengine.cfg")
MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so")


class NgCapture:
    """A loopback ng socket that answers like RTPEngine and keeps every request."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[dict] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            cookie, _, body = data.partition(b" ")
            req = decode(body)
            self.requests.append(req)
            if req[b"command"] == b"ping":
                answer = {"result": "pong"}
            else:
                answer = {"result": "ok", "sdp": req.get(b"sdp", b"")}
            self.sock.sendto(cookie + b" " + encode(answer), addr)

    def next(self, command: bytes, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, req in enumerate(self.requests):
                if req[b"command"] == command:
                    return self.requests.pop(i)
            time.sleep(0.05)
        raise AssertionError(f"Kamailio sent no {command!r}: {self.requests}")

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.sock.close()


FLAGS = [
    "replace-origin replace-session-connection ICE=remove RTP/AVP rtcp-mux-demux "
    "direction=internal direction=external DTLS=passive trust-address codec-strip-PCMA "
    "label=caller",
    "ICE=force UDP/TLS/RTP/SAVPF DTLS=passive rtcp-mux-require SDES-off via-branch=auto",
    "via-branch=1 to-tag codec-offer-opus codec-transcode-PCMU",
]


@pytest.fixture(params=range(len(FLAGS)), ids=["webrtc-to-rtp", "rtp-to-webrtc", "codecs"])
def kamailio(request, tmp_path):
    if shutil.which("kamailio") is None or not MODULE.is_file():
        unavailable("Kamailio 5.6 with its rtpengine module is not installed")
    ng = NgCapture()
    port = free_port()
    flags = FLAGS[request.param]
    log = open(tmp_path / "kamailio.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["kamailio", "-f", str(CFG), "-l", f"udp:127.0.0.1:{port}", "-DD", "-E",
         "-m", "32", "-M", "8", "-w", str(tmp_path), "-Y", str(tmp_path),
         "-P", str(tmp_path / "kamailio.pid"),
         "-A", f'RTPSOCK="udp:127.0.0.1:{ng.port}"', "-A", f'FLAGS="{flags}"'],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        ng.next(b"ping", timeout=15)  # the module pings its instances as it starts
        yield port, ng, flags
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # a loaded machine: Kamailio's children linger
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        ng.close()


def _send(port: int, msg, expect_reply: bool = True):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(10)
        s.sendto(msg.to_bytes(), ("127.0.0.1", port))
        if expect_reply:
            return parse_message(s.recvfrom(65535)[0])
    return None


def _ours(command: str, msg, flags: str) -> dict:
    """kamtool's request, through the wire encoding as Kamailio's came."""
    return decode(encode(build_params(command, msg, flags, "127.0.0.1")))


def test_requests_equal_kamailios(kamailio):
    port, ng, flags = kamailio
    inv = invite("kam-eq-1")
    assert _send(port, inv).status == 200
    assert ng.next(b"offer") == _ours("offer", inv, flags)
    bye = request("BYE", "kam-eq-1")
    _send(port, bye)
    assert ng.next(b"delete") == _ours("delete", bye, flags)
    cancel = request("CANCEL", "kam-eq-1")
    _send(port, cancel)
    assert ng.next(b"delete") == _ours("delete", cancel, flags)


def test_reply_answers_equal_kamailios(kamailio):
    port, ng, flags = kamailio
    ok = reply("kam-eq-2", 200)
    # the reply's top Via is Kamailio's own, as for any reply it receives
    ok.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-kam")
    assert manage_action(ok) == "answer"
    _send(port, ok, expect_reply=False)
    assert ng.next(b"answer") == _ours("answer", ok, flags)
    busy = reply("kam-eq-2", 486, sdp=False)
    busy.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-kam")
    _send(port, busy, expect_reply=False)
    assert ng.next(b"delete") == _ours("delete", busy, flags)
