"""What the Kamailio and the ``kamtool serve`` test harnesses share: one server process
in its own process group, with a log file, a short runtime dir for the FIFO and datagram
socket, JSON-RPC over HTTP, and a start that waits until JSON-RPC answers.

Subclasses set :attr:`name` and :attr:`stop_grace`, create their state, then call
:meth:`_spawn` with the command line.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any, Self

from tests.support.jsonrpc import http_rpc

# the demo rows of the reference start-kamailio.sh, as kamctl arguments (kamtool's CLI
# takes the same, but calls the alias table "alias" where kamctl says "alias_db")
DEMO_ROWS = (
    ("add", "1001", "secret1001"),
    ("add", "1002", "secret1002"),
    ("add", "1003", "secret1003"),
    ("domain", "add", "{domain}"),
    ("address", "add", "1", "10.0.0.10", "32", "5060", "trusted-gw"),
    ("address", "add", "2", "127.0.0.0", "8", "0", "loopback"),
    ("dispatcher", "add", "1", "sip:127.0.0.1:5062", "0", "10", "weight=50", "uas-a"),
    ("dispatcher", "add", "1", "sip:127.0.0.1:5063", "0", "5"),
    ("alias_db", "add", "5001@{domain}", "1001@{domain}"),
)


def demo_rows(domain: str) -> list[tuple[str, ...]]:
    """:data:`DEMO_ROWS` with the domain filled in."""
    return [tuple(a.format(domain=domain) for a in row) for row in DEMO_ROWS]


class ServerProcess:
    """One SIP server process under test (see the module docstring)."""

    name = "server"
    stop_grace = 10.0  # seconds between SIGTERM and SIGKILL

    def __init__(self, base_dir: Path, *, sip_domain: str = "127.0.0.1") -> None:
        self.dir = Path(base_dir) / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}"
        # Unix socket paths are limited to ~107 bytes: keep the runtime dir short.
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{self.name[:3]}-", dir="/tmp"))
        self.sip_domain = sip_domain
        self.sip_port = 0
        self.http_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def rpc_http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/RPC"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def rpc(self, method: str, *params: Any, timeout: float = 10) -> Any:
        """Call ``method`` over HTTP; return ``result`` or raise RuntimeError on an error reply."""
        return http_rpc(self.rpc_http_url, method, *params, timeout=timeout)

    def _spawn(
        self, args: list[str], *, env: dict[str, str] | None = None, wait: float = 20
    ) -> None:
        """Start ``args`` logging to :attr:`log_file`; return once JSON-RPC answers."""
        log = self.log_file.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}"
                )
            try:
                self.rpc("core.version", timeout=1)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer JSON-RPC:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after :attr:`stop_grace`; remove the runtime dir."""
        try:
            self._terminate()
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def start(self) -> Self:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
