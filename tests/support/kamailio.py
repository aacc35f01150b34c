"""A real Kamailio 5.6 on loopback for interop tests.

Uses the reference configuration in ``tests/reference/kamailio-5.6/`` (SIP on UDP and
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
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.ports import free_port
from tests.support.reference import REFERENCE
from tests.support.server_process import ServerProcess, demo_rows

CONFIG = REFERENCE / "kamailio-interop.cfg"
SCHEMA_DIR = Path("/usr/share/kamailio")


def kamailio_missing() -> str | None:
    """What keeps a reference Kamailio from starting here, in words; None when nothing does."""
    if not shutil.which("kamailio"):
        return "kamailio is not installed (scripts/test apt-installs kamailio)"
    if not (SCHEMA_DIR / "db_sqlite").is_dir():
        return (
            f"Kamailio's SQLite schema files are missing ({SCHEMA_DIR / 'db_sqlite'}; "
            "package kamailio-sqlite-modules)"
        )
    if not CONFIG.is_file():
        return f"the reference cfg is missing ({CONFIG})"
    return None


def kamailio_available() -> bool:
    """True when the kamailio binary, its SQLite module schema and the reference cfg exist."""
    return kamailio_missing() is None


def require_kamailio() -> None:
    """Skip (fail in CI) naming what is missing when a reference Kamailio cannot start."""
    from tests.support.require import unavailable

    reason = kamailio_missing()
    if reason:
        unavailable(reason)


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


class Kamailio(ServerProcess):
    """One Kamailio process with its own state directory, ports and database."""

    name = "kamailio"
    defines: tuple[str, ...] = ()  # extra -A NAME[=VALUE] for that cfg

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
        sip_port: int | None = None,
        config: Path | None = None,
    ) -> None:
        super().__init__(base_dir, sip_domain=sip_domain)
        # a cfg derived from the reference one (extra modules); None: CONFIG, read at start
        # (tests monkeypatch CONFIG)
        self.config = config
        self.wanted_sip_port = sip_port  # None: any free port
        self.db = db
        self.seed = seed
        self.auth_ha1_columns = auth_ha1_columns
        self.shm_mb, self.pkg_mb = shm_mb, pkg_mb
        self.db_file: Path | None = None

    # ------------------------------------------------------------------ addresses

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
    def db_url(self) -> str:
        """The database URL in kamtool's form (four slashes for an absolute SQLite path)."""
        if self.db_file is not None:
            return "sqlite:///" + str(self.db_file)
        return str(self.db)

    @property
    def kamctlrc(self) -> Path:
        """A kamctlrc for this instance (for ``kamctl`` with ``KAMCTL_TEST=1`` in :attr:`dir`)."""
        return self.dir / "kamctlrc"

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
        for args in demo_rows(self.sip_domain):
            self.kamctl(*args)

    def start(self) -> Kamailio:
        """Create the DB (and seed it), start Kamailio and wait until JSON-RPC answers."""
        self.dir.mkdir(parents=True, exist_ok=True)
        dburl = self._prepare_db()
        self._write_kamctlrc()
        if self.seed and str(self.db) == "sqlite":
            self._seed()
        self.sip_port, self.http_port = self.wanted_sip_port or free_port(), free_port()
        config = self.config or CONFIG
        args = [
            "kamailio", "-f", str(config), "-m", str(self.shm_mb), "-M", str(self.pkg_mb),
            "-Y", str(self.run_dir), "-w", str(self.run_dir),
            "-P", str(self.run_dir / "kamailio.pid"),
            "-A", "LISTEN_IP=127.0.0.1", "-A", f"SIP_PORT={self.sip_port}",
            "-A", f"HTTP_PORT={self.http_port}", "-A", f'DBURL="{dburl}"',
        ]  # fmt: skip
        if str(self.db).startswith("mysql://"):
            args += ["-A", "WITH_MYSQL"]
        if self.auth_ha1_columns:
            args += ["-A", "AUTH_HA1_COLUMNS"]
        for define in self.defines:
            args += ["-A", define]
        self._spawn([*args, "-DD", "-E"])
        return self
