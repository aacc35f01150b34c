"""kamtool's proxy as a separate process (``python -m kamtool serve``) for interop tests.

The twin of :class:`tests.support.kamailio.Kamailio`: the same attributes (``sip_port``,
``rpc_http_url``, ``fifo_path``, ``dgram_path``, ``db_file``, ``db_url``, ``log_text()``,
``rpc()``) so one test can run against either. ``seed=True`` adds the same demo rows as
the Kamailio harness, with kamtool's own CLI where the other uses ``kamctl``::

    with KamtoolProxy(tmp_path) as p:
        p.rpc("core.version")
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

from tests.support.jsonrpc import http_rpc
from tests.support.ports import free_port

# the demo rows of the Kamailio harness (tests/support/kamailio.py, Kamailio._seed), as
# kamtool commands: kamtool's CLI takes kamctl's arguments
SEED = (
    ("add", "1001", "secret1001"),
    ("add", "1002", "secret1002"),
    ("add", "1003", "secret1003"),
    ("domain", "add", "{domain}"),
    ("address", "add", "1", "10.0.0.10", "32", "5060", "trusted-gw"),
    ("address", "add", "2", "127.0.0.0", "8", "0", "loopback"),
    ("dispatcher", "add", "1", "sip:127.0.0.1:5062", "0", "10", "weight=50", "uas-a"),
    ("dispatcher", "add", "1", "sip:127.0.0.1:5063", "0", "5"),
    ("alias", "add", "5001@{domain}", "1001@{domain}"),
)


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a kamtool subprocess: our PYTHONPATH, no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_RUNTIME_DIR=str(home / "run"),
    )
    return env


class KamtoolProxy:
    """One ``kamtool serve`` process with its own state directory, ports and SQLite DB."""

    def __init__(self, base_dir: Path, *, seed: bool = True, sip_domain: str = "127.0.0.1"):
        self.dir = Path(base_dir) / f"kamtool-{os.getpid()}-{time.monotonic_ns()}"
        # Unix socket paths are limited to ~107 bytes: keep the runtime dir short.
        self.run_dir = Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
        self.seed = seed
        self.sip_domain = sip_domain
        self.sip_port = 0
        self.http_port = 0
        self.db_file = self.dir / "db" / "kamailio.sqlite"
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def rpc_http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/RPC"

    @property
    def fifo_path(self) -> Path:
        from kamtool.rpc.server import FIFO_NAME

        return self.run_dir / FIFO_NAME

    @property
    def dgram_path(self) -> Path:
        from kamtool.rpc.server import SOCKET_NAME

        return self.run_dir / SOCKET_NAME

    @property
    def log_file(self) -> Path:
        return self.dir / "kamtool.log"

    @property
    def db_url(self) -> str:
        return "sqlite:///" + str(self.db_file)

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ lifecycle

    def kamtool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``kamtool --db URL ARGS`` in a subprocess against this instance's DB."""
        return subprocess.run(
            [sys.executable, "-m", "kamtool", "--db", self.db_url, "--domain", self.sip_domain,
             *args],
            env=isolated_env(self.dir / "home"), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def _seed(self) -> None:
        for args in SEED:
            res = self.kamtool(*(a.format(domain=self.sip_domain) for a in args), "--no-reload")
            if res.returncode != 0:
                raise RuntimeError(f"kamtool {' '.join(args)}: {res.stderr}")

    def start(self) -> KamtoolProxy:
        """Create the DB (and seed it), start ``kamtool serve``, wait until JSON-RPC answers."""
        (self.dir / "home").mkdir(parents=True, exist_ok=True)
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        if self.seed:
            self._seed()  # the first command creates the SQLite file with every table
        self.sip_port, self.http_port = free_port(), free_port()
        cfg = self.dir / "kamtool.toml"
        cfg.write_text(f'[proxy]\nrpc_runtime_dir = "{self.run_dir}"\n')
        args = [
            sys.executable, "-m", "kamtool", "--db", self.db_url, "serve",
            "--listen", f"udp:127.0.0.1:{self.sip_port}",
            "--listen", f"tcp:127.0.0.1:{self.sip_port}",
            "--rpc-listen", f"127.0.0.1:{self.http_port}",
            "--domain", self.sip_domain, "--config", str(cfg), "--log-level", "info",
        ]  # fmt: skip
        log = self.log_file.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=isolated_env(self.dir / "home"),
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kamtool serve exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}"
                )
            try:
                self.rpc("core.version", timeout=1)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kamtool serve did not answer JSON-RPC:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL after 15 s; remove the runtime dir."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
                except ProcessLookupError:
                    pass
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> KamtoolProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ JSON-RPC

    def rpc(self, method: str, *params: Any, timeout: float = 10) -> Any:
        """Call ``method`` over HTTP; return ``result`` or raise RuntimeError on an error reply."""
        return http_rpc(self.rpc_http_url, method, *params, timeout=timeout)
