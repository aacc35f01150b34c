"""A real Kamailio 5.6 running a Python KEMI routing script (app_python3), and ``kamtool serve
--route`` running the same script, behind one interface for the tests in ``tests/ksr/``.

The script under test is Kamailio's own example as Debian ships it, read where the package
installs it, unmodified (:data:`EXAMPLE_SCRIPT`); Kamailio runs it with our configuration
``tests/support/kamailio-kemi-python.cfg``. Both servers start from the demo rows of
tests/support/server_process.py (subscribers 1001..1003, password ``secret<user>``, domain
127.0.0.1; 127.0.0.1 is *not* a trusted address, so calls are challenged)::

    with KemiKamailio(tmp_path) as k:
        k.rpc("core.version")                      # over the datagram socket
    with kemi_server("kamtool", tmp_path) as t:    # either, as a KemiTarget
        t.location_rows()
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.jsonrpc import dgram_rpc
from tests.support.kamailio import Kamailio, kamailio_available
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable

EXAMPLES = Path("/usr/share/doc/kamailio/examples/kemi")
EXAMPLE_SCRIPT = EXAMPLES / "kamailio-basic-kemi-python.py"
KEMI_CONFIG = Path(__file__).with_name("kamailio-kemi-python.cfg")
APP_PYTHON3 = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/app_python3.so")


def app_python3_available() -> bool:
    """True when Kamailio, its app_python3 module and the example script are installed."""
    return kamailio_available() and APP_PYTHON3.is_file() and EXAMPLE_SCRIPT.is_file()


def require_app_python3() -> None:
    """Skip (fail in CI) without ``kamailio-python3-modules`` or the example script."""
    if not app_python3_available():
        unavailable(
            "kamailio 5.6 with app_python3 and its examples is not installed"
            " (scripts/test installs kamailio-python3-modules)"
        )


class KemiKamailio(Kamailio):
    """Kamailio 5.6 with :data:`KEMI_CONFIG` running ``script`` through app_python3.

    JSON-RPC is served on the FIFO and the datagram socket only (see the cfg), so
    :meth:`rpc` talks over the datagram socket."""

    name = "kamailio"

    def __init__(self, base_dir: Path, script: Path = EXAMPLE_SCRIPT, **kw: Any) -> None:
        super().__init__(base_dir, **kw)
        self.script = Path(script)

    @property
    def rpc_http_url(self) -> str:  # no HTTP transport in this configuration
        raise AttributeError("the KEMI configuration serves JSON-RPC on FIFO and datagram only")

    def rpc(self, method: str, *params: Any, timeout: float = 10) -> Any:
        return dgram_rpc(str(self.dgram_path), method, *params, timeout=timeout)

    def start(self) -> KemiKamailio:
        """Create and seed the SQLite DB, start Kamailio, wait until JSON-RPC answers."""
        self.dir.mkdir(parents=True, exist_ok=True)
        dburl = self._prepare_db()
        self._write_kamctlrc()
        if self.seed and str(self.db) == "sqlite":
            self._seed()
        self.sip_port = self.wanted_sip_port or free_port()
        args = [
            "kamailio", "-f", str(self.config or KEMI_CONFIG),
            "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
            "-Y", str(self.run_dir), "-w", str(self.run_dir),
            "-P", str(self.run_dir / "kamailio.pid"),
            "-A", "LISTEN_IP=127.0.0.1", "-A", f"SIP_PORT={self.sip_port}",
            "-A", f'DBURL="{dburl}"', "-A", f'SCRIPT="{self.script}"',
            "-A", f'RTPPROXY="udp:127.0.0.1:{free_port()}"',
            "-DD", "-E",
        ]  # fmt: skip
        self._spawn(args)
        return self


# The module parameters of kamailio-kemi-python.cfg as kamtool's [proxy] settings, so that
# both servers run the script with the same configuration. A setting kamtool does not have
# (yet) is left out: the tests then show the behaviour that differs.
KEMI_PROXY_SETTINGS: dict[str, str | int | float | bool] = {
    "db_mode": 1,                   # usrloc db_mode
    "use_domain": False,            # usrloc use_domain
    "auth_use_domain": False,       # auth_db use_domain
    "fr_timer": 30.0,               # tm fr_timer (ms there, s here)
    "fr_inv_timer": 120.0,          # tm fr_inv_timer
    "max_expires": 3600,            # registrar max_expires
    "min_expires": 60,              # registrar min_expires (Kamailio's default)
    "pike_sampling_time_unit": 2.0,
    "pike_reqs_density_per_unit": 16,
    "pike_remove_latency": 4.0,
    "ipban_autoexpire": 300,        # htable ipban autoexpire
    "natping_interval": 30,         # nathelper natping_interval
    "sipping_from": "sip:pinger@kamailio.org",
    "rr_enable_full_lr": True,      # rr enable_full_lr: ";lr=on"
    "rr_append_fromtag": False,     # rr append_fromtag
    "nat_bflag": 6,                 # usrloc nat_bflag (FLB_NATB): location.keepalive
}  # fmt: skip


class KemiKamtool(KamtoolProxy):
    """``kamtool serve --route script`` with :data:`KEMI_PROXY_SETTINGS`."""

    def __init__(self, base_dir: Path, script: Path = EXAMPLE_SCRIPT, **kw: Any) -> None:
        super().__init__(base_dir, **kw)
        self.script = Path(script)

    def proxy_settings(self) -> dict[str, str | int | float | bool]:
        from dataclasses import fields

        from kamtool.proxy.config import ProxyConfig

        known = {f.name for f in fields(ProxyConfig)}
        # a key the test's proxy_toml sets itself wins (TOML refuses a key given twice)
        own = {ln.split("=")[0].strip() for ln in self.proxy_toml.splitlines() if "=" in ln}
        mine = {k: v for k, v in KEMI_PROXY_SETTINGS.items() if k in known and k not in own}
        return {**super().proxy_settings(), **mine}

    def serve_args(self) -> list[str]:
        return [*super().serve_args(), "--route", str(self.script)]


@dataclass
class KemiTarget:
    """One running server (``name`` "kamailio" or "kamtool") with the script loaded."""

    name: str
    server: KemiKamailio | KemiKamtool

    @property
    def sip_port(self) -> int:
        return self.server.sip_port

    @property
    def dgram_url(self) -> str:
        """kamtool's ``--rpc`` URL of the server's datagram socket (both serve it)."""
        return f"unix:{self.server.dgram_path}"

    def rpc(self, method: str, *params: Any) -> Any:
        return self.server.rpc(method, *params)

    def log_text(self) -> str:
        return self.server.log_text()

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of ``sql`` from the server's SQLite database, as dicts."""
        assert self.server.db_file is not None
        db = sqlite3.connect(self.server.db_file, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(sql, args)]
        finally:
            db.close()

    def location_rows(self, user: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM location WHERE username = ? ORDER BY contact", user)


@contextmanager
def kemi_server(name: str, base_dir: Path, script: Path = EXAMPLE_SCRIPT,
                **kw: Any) -> Iterator[KemiTarget]:  # fmt: skip
    """Start ``name`` ("kamailio" or "kamtool") running ``script`` with the demo rows."""
    if name == "kamailio":
        require_app_python3()
        with KemiKamailio(base_dir, script, **kw) as k:
            yield KemiTarget(name, k)
        return
    if not Path(script).is_file():  # the example, from Debian's kamailio package
        unavailable(f"{script} is missing (scripts/test installs kamailio)")
    with KemiKamtool(base_dir, script, **kw) as p:
        yield KemiTarget(name, p)


def need(tool: str) -> None:
    """Skip (fail in CI) without the command-line tool ``tool``."""
    if shutil.which(tool) is None:
        unavailable(f"{tool} is not installed (scripts/test installs it)")


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a SIP test tool in /tmp (SIPp writes files in its working dir), capturing output."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd="/tmp")
