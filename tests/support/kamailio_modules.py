"""A real Kamailio 5.6 with the provisioning modules (dialplan, mtree, lcr, carrierroute,
uac, speeddial, avpops) on one database, for the provisioning interop tests::

    with ModulesKamailio(tmp_path, db=url) as k:     # url: sqlite:////abs, mysql://, postgres://
        k.rpc("dialplan.reload")

The database must hold Kamailio's tables (``kamtool dbctl create --group extra`` or
Kamailio's own schema files); the cfg is ``tests/support/kamailio-provisioning.cfg``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.support.kamailio import Kamailio, kamailio_db_url
from tests.support.ports import free_port

CONFIG = Path(__file__).with_name("kamailio-provisioning.cfg")


def _postgres_url(url: str) -> str:
    """Kamailio's db_postgres wants ``postgres://user:pw@host:port/db`` with a password
    field present, as db_mysql does."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    user, password = parts.username or "postgres", parts.password or ""
    return f"postgres://{user}:{password}@{parts.hostname}{port}{parts.path}"


class ModulesKamailio(Kamailio):
    """Kamailio with kamtool's provisioning test cfg (no seeding: tests write the rows)."""

    name = "kamailio"

    def __init__(self, base_dir: Path, *, db: str, carrierroute: bool = False) -> None:
        super().__init__(base_dir, db=db, seed=False)
        self.carrierroute = carrierroute

    def _prepare_db(self) -> str:
        db = str(self.db)
        if db.startswith("mysql://"):
            return kamailio_db_url(db)
        if db.startswith("postgres://"):
            return _postgres_url(db)
        return super()._prepare_db()

    def start(self) -> ModulesKamailio:
        self.dir.mkdir(parents=True, exist_ok=True)
        dburl = self._prepare_db()
        self._write_kamctlrc()
        self.sip_port, self.http_port = free_port(), free_port()
        args = [
            "kamailio", "-f", str(CONFIG), "-m", "64", "-M", "8",
            "-Y", str(self.run_dir), "-w", str(self.run_dir),
            "-P", str(self.run_dir / "kamailio.pid"),
            "-A", f"SIP_PORT={self.sip_port}", "-A", f"HTTP_PORT={self.http_port}",
            "-A", f'DBURL="{dburl}"',
        ]  # fmt: skip
        if str(self.db).startswith("mysql://"):
            args += ["-A", "WITH_MYSQL"]
        elif str(self.db).startswith("postgres://"):
            args += ["-A", "WITH_POSTGRES"]
        if self.carrierroute:
            args += ["-A", "WITH_CARRIERROUTE"]
        self._spawn([*args, "-DD", "-E"])
        return self
