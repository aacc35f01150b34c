"""Debian's ``rtpengine`` daemon for tests: userspace forwarding only (no kernel module,
no systemd), its own config file, control and media on 127.0.0.1."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.ports import free_port
from tests.support.require import unavailable

BINARY = "rtpengine"


def rtpengine_available() -> bool:
    return shutil.which(BINARY) is not None


def ng_ping(port: int, timeout: float = 0.2) -> bool:
    """Whether an ng ping to 127.0.0.1:``port`` gets its pong."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(b"probe d7:command4:pinge", ("127.0.0.1", port))
            data, _ = s.recvfrom(4096)
        except OSError:
            return False
    return data.startswith(b"probe ") and b"pong" in data


class RtpEngineDaemon:
    """One rtpengine process; :attr:`url` is its ``udp:127.0.0.1:PORT`` control socket."""

    def __init__(self, base_dir: Path) -> None:
        if not rtpengine_available():
            unavailable("rtpengine (Debian package rtpengine-daemon) is not installed")
        self.dir = Path(base_dir) / f"rtpengine-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        self.ng_port = free_port()
        base = random.randrange(40000, 49800, 200)  # an even media range above free_port()s
        self.port_min, self.port_max = base, base + 199
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"udp:127.0.0.1:{self.ng_port}"

    def start(self) -> RtpEngineDaemon:
        conf = self.dir / "rtpengine.conf"
        conf.write_text(
            "[rtpengine]\n"
            "interface = 127.0.0.1\n"
            f"listen-ng = 127.0.0.1:{self.ng_port}\n"
            f"port-min = {self.port_min}\n"
            f"port-max = {self.port_max}\n"
            "table = -1\n"  # userspace only: never touch the kernel module
            "log-level = 6\n"
            "delete-delay = 0\n"
        )
        log = open(self.dir / "rtpengine.log", "wb")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"--config-file={conf}",
                "--foreground",
                "--log-stderr",
                f"--pidfile={self.dir / 'rtpengine.pid'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtpengine exited:\n{self.log()}")
            if ng_ping(self.ng_port):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"rtpengine did not answer ng pings:\n{self.log()}")

    def log(self) -> str:
        return (self.dir / "rtpengine.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> RtpEngineDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
