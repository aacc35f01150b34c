"""kamtool as root against a Kamailio 5.6 that runs as the user ``kamailio`` (``-u
kamailio -g kamailio``, as Debian's kamailio.service starts it): kamctl's RPCFIFO
transport, kamtool's FIFO and datagram transports.

Kamailio makes its FIFO and datagram socket as root, before it drops privileges, so
their owner (root) said nothing of the user that answers; kamtool as root made its reply
FIFO 0600 and its reply socket in a 0700 directory, which the ``kamailio`` processes
cannot write: every FIFO and datagram call timed out (exit 10) while ``kamctl`` worked.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.kamailio import Kamailio, require_kamailio
from tests.support.require import unavailable

pytestmark = pytest.mark.kamailio


class KamailioAsUser(Kamailio):
    """The reference Kamailio started as root and running as ``kamailio``."""

    def _spawn(self, args, **kw):
        for d in (self.run_dir, self.dir, self.dir / "db"):
            os.chmod(d, 0o777)
        if self.db_file is not None:
            os.chmod(self.db_file, 0o666)
        super()._spawn([args[0], "-u", "kamailio", "-g", "kamailio", *args[1:]], **kw)


@pytest.fixture(scope="module")
def kamailio_as_user():
    require_kamailio()
    if os.geteuid() != 0:
        unavailable("root is needed to start Kamailio as another user")
    try:
        pwd.getpwnam("kamailio")
    except KeyError:
        unavailable("the user kamailio (Debian's kamailio package makes it) is missing")
    base = Path(tempfile.mkdtemp(prefix="kt-asuser-"))  # reachable by the kamailio user
    os.chmod(base, 0o777)
    try:
        with KamailioAsUser(base, seed=False) as k:
            yield k
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("transport", ["fifo", "dgram"])
def test_root_reaches_kamailio_running_as_kamailio(kamailio_as_user, transport, monkeypatch):
    k = kamailio_as_user
    assert os.stat(f"/proc/{k.proc.pid}").st_uid == pwd.getpwnam("kamailio").pw_uid
    monkeypatch.setenv("KAMTOOL_RPC_TIMEOUT", "3")
    url = f"fifo:{k.fifo_path}" if transport == "fifo" else f"unix:{k.dgram_path}"
    for _ in range(2):  # the second call takes the cached server user
        r = invoke("--rpc", url, "version")
        assert r.exit_code == 0, (r.stdout, r.stderr)
        assert r.stdout.startswith("kamailio 5.6")
    ul = invoke("--json", "--rpc", url, "ul", "show")
    assert ul.exit_code == 0 and ul.json() == [], ul.stderr
