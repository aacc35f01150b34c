"""A real Kamailio 5.6 on loopback for interop tests.

Uses the reference configuration in ``../shared/reference/kamailio-5.6/`` (SIP on UDP and
TCP, JSON-RPC over HTTP, FIFO and unix datagram, BINRPC for kamcmd) and Debian's
``kamailio`` packages, which ``scripts/test`` installs. Each instance gets its own state
directory and free ports, so tests can run several side by side::

    with Kamailio(tmp_path) as k:          # fresh SQLite DB from Kamailio's own schema files
        k.rpc("core.version")
    with Kamailio(tmp_path, db=path_to_kamtool_made_sqlite, seed=False) as k: ...
    with Kamailio(tmp_path, db="mysql://root@127.0.0.1:3306/kt_x", seed=False) as k: ...

``seed=True`` adds the demo rows with ``kamctl`` exactly as the reference
``start-kamailio.sh`` does (subscribers 1001..1003 with password ``secret<user>``,
domain, addresses, dispatcher set 1, alias 5001 -> 1001); only for a fresh SQLite DB.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.jsonrpc import http_rpc
from tests.support.ports import free_port
from tests.support.reference import REFERENCE

CONFIG = REFERENCE / "kamailio-interop.cfg"
SCHEMA_DIR = Path("/usr/share/kamailio")


def kamailio_available() -> bool:
    """True when the kamailio binary, its SQLite module schema and the reference cfg exist."""
    return (
        bool(shutil.which("kamailio")) and (SCHEMA_DIR / "db_sqlite").is_dir() and CONFIG.is_file()
    )


def create_sqlite_with_kamailio_schema(
    path: Path, groups=("standard", "presence", "extra")
) -> None:
    """Create ``path`` from Kamailio's own db_sqlite schema files, as kamdbctl does."""
    from kamtool.db.schema import group_modules  # kamdbctl's module lists, in its order

    modules = group_modules()
    conn = sqlite3.connect(path)
    try:
        for group in groups:
            for module in modules[group]:
                conn.executescript((SCHEMA_DIR / "db_sqlite" / f"{module}-create.sql").read_text())
        conn.commit()
    finally:
        conn.close()


def kamailio_db_url(url: str) -> str:
    """Translate a kamtool/test database URL into the form Kamailio's modules expect."""
    if url.startswith("mysql://"):
        parts = urlsplit(url)
        user = parts.username or "root"
        pw = parts.password or ""
        host = parts.hostname or "127.0.0.1"
        port = f":{parts.port}" if parts.port else ""
        return f"mysql://{user}:{pw}@{host}{port}{parts.path}"
    return url


class Kamailio:
    """One Kamailio process with its own state directory, ports and database."""

    def __init__(
        self,
        base_dir: Path,
        *,
        db: str | os.PathLike[str] = "sqlite",
        seed: bool = True,
        auth_ha1_columns: bool = False,
        shm_mb: int = 64,
        pkg_mb: int = 8,
        sip_domain: str = "127.0.0.1",
    ) -> None:
        self.dir = Path(base_dir) / f"kamailio-{os.getpid()}-{time.monotonic_ns()}"
        # Unix socket paths are limited to ~107 bytes: keep the runtime dir short.
        self.run_dir = Path(tempfile.mkdtemp(prefix="kam-", dir="/tmp"))
        self.db = db
        self.seed = seed
        self.auth_ha1_columns = auth_ha1_columns
        self.shm_mb, self.pkg_mb = shm_mb, pkg_mb
        self.sip_domain = sip_domain
        self.sip_port = 0
        self.http_port = 0
        self.db_file: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def rpc_http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/RPC"

    @property
    def fifo_path(self) -> Path:
        return self.run_dir / "kamailio_rpc.fifo"

    @property
    def dgram_path(self) -> Path:
        return self.run_dir / "kamailio_rpc.sock"

    @property
    def ctl_socket(self) -> Path:
        return self.run_dir / "kamailio_ctl"

    @property
    def log_file(self) -> Path:
        return self.dir / "kamailio.log"

    @property
    def db_url(self) -> str:
        """The database URL in kamtool's form (four slashes for an absolute SQLite path)."""
        if self.db_file is not None:
            return "sqlite:///" + str(self.db_file)
        return str(self.db)

    @property
    def kamctlrc(self) -> Path:
        """A kamctlrc for this instance (for ``kamctl`` with ``KAMCTL_TEST=1`` in :attr:`dir`)."""
        return self.dir / "kamctlrc"

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ lifecycle

    def _prepare_db(self) -> str:
        db = str(self.db)
        if db.startswith("mysql://"):
            return kamailio_db_url(db)
        if db == "sqlite":
            self.db_file = self.dir / "db" / "kamailio.sqlite"
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            create_sqlite_with_kamailio_schema(self.db_file)
        else:
            self.db_file = Path(db.removeprefix("sqlite:///")).resolve()
        # WAL as the reference start script uses: fewer "database is locked" between
        # Kamailio's processes and the test's own writers.
        conn = sqlite3.connect(self.db_file)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        return "sqlite:///" + str(self.db_file)  # "sqlite:///" + "/abs" = Kamailio's 4 slashes

    def _write_kamctlrc(self) -> None:
        lines = [
            f"SIP_DOMAIN={self.sip_domain}",
            "CTLENGINE=RPCFIFO",
            f"RPCFIFOPATH={self.fifo_path}",
        ]
        if self.db_file is not None:
            lines += ["DBENGINE=SQLITE", f"DB_PATH={self.db_file}"]
        self.kamctlrc.write_text("\n".join(lines) + "\n")

    def kamctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``kamctl ARGS`` against this instance (its DB and its RPC FIFO)."""
        env = dict(os.environ, KAMCTL_TEST="1")
        return subprocess.run(
            ["kamctl", *args],
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def _seed(self) -> None:
        d = self.sip_domain
        for args in (
            ("add", "1001", "secret1001"),
            ("add", "1002", "secret1002"),
            ("add", "1003", "secret1003"),
            ("domain", "add", d),
            ("address", "add", "1", "10.0.0.10", "32", "5060", "trusted-gw"),
            ("address", "add", "2", "127.0.0.0", "8", "0", "loopback"),
            ("dispatcher", "add", "1", "sip:127.0.0.1:5062", "0", "10", "weight=50", "uas-a"),
            ("dispatcher", "add", "1", "sip:127.0.0.1:5063", "0", "5"),
            ("alias_db", "add", f"5001@{d}", f"1001@{d}"),
        ):
            self.kamctl(*args)

    def start(self) -> Kamailio:
        """Create the DB (and seed it), start Kamailio and wait until JSON-RPC answers."""
        self.dir.mkdir(parents=True, exist_ok=True)
        dburl = self._prepare_db()
        self._write_kamctlrc()
        if self.seed and str(self.db) == "sqlite":
            self._seed()
        self.sip_port, self.http_port = free_port(), free_port()
        args = [
            "kamailio", "-f", str(CONFIG), "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
            "-Y", str(self.run_dir), "-w", str(self.run_dir),
            "-P", str(self.run_dir / "kamailio.pid"),
            "-A", "LISTEN_IP=127.0.0.1", "-A", f"SIP_PORT={self.sip_port}",
            "-A", f"HTTP_PORT={self.http_port}", "-A", f'DBURL="{dburl}"',
        ]  # fmt: skip
        if str(self.db).startswith("mysql://"):
            args += ["-A", "WITH_MYSQL"]
        if self.auth_ha1_columns:
            args += ["-A", "AUTH_HA1_COLUMNS"]
        log = self.log_file.open("wb")
        self.proc = subprocess.Popen(
            [*args, "-DD", "-E"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kamailio exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}"
                )
            try:
                self.rpc("core.version", timeout=1)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kamailio did not answer JSON-RPC:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 10 s; remove the runtime dir."""
        try:
            self._terminate()
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ JSON-RPC

    def rpc(self, method: str, *params: Any, timeout: float = 10) -> Any:
        """Call ``method`` over HTTP; return ``result`` or raise RuntimeError on an error reply."""
        return http_rpc(self.rpc_http_url, method, *params, timeout=timeout)
