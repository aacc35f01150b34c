"""Servers for the server-view, certificate, trap, shell and sipreq tests.

``kamailio_plus``: a real Kamailio 5.6 on the reference cfg plus what the views need and
the reference leaves out: the tls module listening with a certificate made by
``kamtool tls usercert`` (from a CA made by ``kamtool tls rootca``), pipelimit with a
pipe in its table, a declared shared variable and an ``alias=``. ``proxy``: kamtool's own
proxy (``kamtool serve``) in a separate process.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import CONFIG, Kamailio, create_sqlite_with_kamailio_schema
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port
from tests.support.require import unavailable

TLS_MODULE = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so")
ALIAS = "sip.kamtool.test"
PIPE = ("calls", "TAILDROP", 25)
SHV = ("maxcalls", 10)


@dataclass
class Pki:
    """A CA and one server certificate made with kamtool's CLI, and the tls.cfg for them."""

    base: Path
    ca: Path
    cert: Path
    key: Path
    ca_list: Path
    tls_cfg: str


def make_pki(base: Path, name: str = "server") -> Pki:
    r = invoke("--json", "tls", "rootca", "--dir", str(base), "--key-size", "2048",
               "--cn", "kamtool test CA", "-C", "DE", "-O", "kamtool tests")  # fmt: skip
    assert r.exit_code == 0, r.stderr + r.stdout
    r = invoke("tls", "usercert", name, "--dir", str(base), "--key-size", "2048", "--cn",
               "127.0.0.1", "--san", "127.0.0.1", "--san", "localhost", "--tls-cfg")  # fmt: skip
    assert r.exit_code == 0, r.stderr + r.stdout
    d = base / name
    return Pki(base, base / "CA" / "cacert.pem", d / f"{name}-cert.pem",
               d / f"{name}-privkey.pem", d / f"{name}-calist.pem", r.stdout)  # fmt: skip


def plus_cfg(directory: Path, tls_cfg: Path, tls_port: int) -> Path:
    """The reference cfg with tls, pipelimit, a $shv and an alias added."""
    text = CONFIG.read_text()
    listen = "listen=tcp:LISTEN_IP:HTTP_PORT\n"
    text = text.replace(listen, listen + f"alias={ALIAS}\nenable_tls=yes\n"
                        f"listen=tls:LISTEN_IP:{tls_port}\n", 1)  # fmt: skip
    pike = 'loadmodule "pike.so"\n'
    text = text.replace(pike, pike + (
        'loadmodule "tls.so"\nloadmodule "pipelimit.so"\n'
        f'modparam("tls", "config", "{tls_cfg}")\n'
        'modparam("pipelimit", "db_url", DBURL)\n'
        f'modparam("pv", "shvset", "{SHV[0]}=i:{SHV[1]}")\n'
    ), 1)  # fmt: skip
    assert "pipelimit" in text and "enable_tls" in text
    path = directory / "kamailio-plus.cfg"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def kamailio_plus(tmp_path_factory):
    """(Kamailio, Pki, tls_port) for the views of tls, pipelimit, shv and aliases."""
    if not shutil.which("kamailio"):
        unavailable("kamailio is not installed")
    if not TLS_MODULE.exists():
        unavailable("kamailio-tls-modules is not installed")
    d = tmp_path_factory.mktemp("kamplus")
    pki = make_pki(d / "pki")
    (d / "tls.cfg").write_text(pki.tls_cfg)
    tls_port = free_port()
    db = d / "kamailio.sqlite"
    create_sqlite_with_kamailio_schema(db)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO pl_pipes (pipeid, algorithm, plimit) VALUES (?, ?, ?)", PIPE)
    cfg = plus_cfg(d, d / "tls.cfg", tls_port)
    with Kamailio(d, db=str(db), seed=False, config=cfg) as k:
        yield k, pki, tls_port


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    with KamtoolProxy(tmp_path_factory.mktemp("proxy"), seed=False) as p:
        yield p
