"""kamtool's proxy as a separate process (``python -m kamtool serve``) for interop tests.

The twin of :class:`tests.support.kamailio.Kamailio`: the same attributes (``sip_port``,
``rpc_http_url``, ``fifo_path``, ``dgram_path``, ``db_file``, ``db_url``, ``log_text()``,
``rpc()``) so one test can run against either. ``seed=True`` adds the same demo rows as
the Kamailio harness, with kamtool's own CLI where the other uses ``kamctl``::

    with KamtoolProxy(tmp_path) as p:
        p.rpc("core.version")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port
from tests.support.server_process import ServerProcess, demo_rows


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a kamtool subprocess: our PYTHONPATH, no user configuration;
    its temporary files under ``home/tmp`` (a path too long for the unix sockets of
    ``serve --workers``, which then makes its private directory in /tmp)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMTOOL_")}
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(
        TMPDIR=str(home / "tmp"),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_RUNTIME_DIR=str(home / "run"),
    )
    return env


class KamtoolProxy(ServerProcess):
    """One ``kamtool serve`` process with its own state directory, ports and SQLite DB."""

    name = "kamtool"
    stop_grace = 15.0  # a graceful stop finishes transactions and flushes usrloc

    def __init__(
        self,
        base_dir: Path,
        *,
        seed: bool = True,
        sip_domain: str = "127.0.0.1",
        sip_port: int | None = None,
        extra_args: tuple[str, ...] = (),
        proxy_toml: str = "",
        wrapper: tuple[str, ...] = (),
    ):
        super().__init__(base_dir, sip_domain=sip_domain)
        self.extra_args = extra_args  # more `kamtool serve` options
        self.proxy_toml = proxy_toml  # more lines of the [proxy] section
        self.wrapper = wrapper  # a command that execs the server (e.g. prlimit ... --)
        self.wanted_sip_port = sip_port  # None: any free port
        self.seed = seed
        self.db_file = self.dir / "db" / "kamailio.sqlite"
        self.home = self.dir / "home"  # HOME and XDG dirs of the server and its CLI runs

    # ------------------------------------------------------------------ addresses

    @property
    def fifo_path(self) -> Path:
        from kamtool.rpc.server import FIFO_NAME

        return self.run_dir / FIFO_NAME

    @property
    def dgram_path(self) -> Path:
        from kamtool.rpc.server import SOCKET_NAME

        return self.run_dir / SOCKET_NAME

    @property
    def db_url(self) -> str:
        return "sqlite:///" + str(self.db_file)

    # ------------------------------------------------------------------ lifecycle

    def kamtool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``kamtool --db URL ARGS`` in a subprocess against this instance's DB."""
        return subprocess.run(
            [sys.executable, "-m", "kamtool", "--db", self.db_url, "--domain", self.sip_domain,
             *args],
            env=isolated_env(self.home), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def _seed(self) -> None:
        for row in demo_rows(self.sip_domain):
            args = ("alias", *row[1:]) if row[0] == "alias_db" else row
            res = self.kamtool(*args, "--no-reload")
            if res.returncode != 0:
                raise RuntimeError(f"kamtool {' '.join(args)}: {res.stderr}")

    def start(self) -> KamtoolProxy:
        """Create the DB (and seed it), start ``kamtool serve``, wait until JSON-RPC answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        if self.seed:
            self._seed()  # the first command creates the SQLite file with every table
        self.sip_port, self.http_port = self.wanted_sip_port or free_port(), free_port()
        self._spawn(self.serve_args(), env=isolated_env(self.home), wait=30)
        return self

    def proxy_settings(self) -> dict[str, str | int | float | bool]:
        """The ``[proxy]`` section of the instance's TOML file (subclasses add settings)."""
        return {"rpc_runtime_dir": str(self.run_dir)}

    def serve_args(self) -> list[str]:
        """The ``kamtool serve`` command line (subclasses add options)."""
        cfg = self.dir / "kamtool.toml"
        lines = [f"{k} = {json.dumps(v)}" for k, v in self.proxy_settings().items()]
        # JSON scalars are TOML's; proxy_toml adds raw lines of the [proxy] section
        cfg.write_text("[proxy]\n" + "\n".join(lines) + f"\n{self.proxy_toml}\n")
        return [
            *self.wrapper, sys.executable, "-m", "kamtool", "--db", self.db_url, "serve",
            "--listen", f"udp:127.0.0.1:{self.sip_port}",
            "--listen", f"tcp:127.0.0.1:{self.sip_port}",
            "--rpc-listen", f"127.0.0.1:{self.http_port}",
            "--domain", self.sip_domain, "--config", str(cfg), "--log-level", "info",
            *self.extra_args,
        ]  # fmt: skip
