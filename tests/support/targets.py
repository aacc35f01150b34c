"""One interface over the two servers kamtool's runtime commands must work against: a real
Kamailio 5.6 (:class:`~tests.support.kamailio.Kamailio`) and kamtool's own proxy as a
separate process (:class:`~tests.support.kamtool_proxy.KamtoolProxy`).

Both start from the same demo rows (subscribers 1001..1003 with password ``secret<user>``,
domain 127.0.0.1, address groups 1 and 2, dispatcher set 1 with sip:127.0.0.1:5062 and
:5063, alias 5001 -> 1001). The tests hold both to the same expectations; where the two
legitimately differ, the difference is an attribute of :class:`Target`, with the reason.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.kamailio import Kamailio, require_kamailio
from tests.support.kamtool_proxy import KamtoolProxy

TRANSPORTS = ("http", "fifo", "dgram")

# a row of the ``kv`` hash table (``dbtable=htable`` in the reference cfg), written to the
# database after start so that only ``htable reload kv`` can bring it in
KV_KEY, KV_VALUE = "greeting", "hello"


@dataclass
class Target:
    """A running server with its JSON-RPC endpoints, SIP port and database."""

    name: str
    server: Kamailio | KamtoolProxy
    # ---- where the two legitimately differ ------------------------------------------
    # core.version: Kamailio names itself, kamtool names itself
    version: str
    # Kamailio sometimes leaves out the callee's BYE after dlg.end_dlg: in ~1 run of 5,
    # 5.6.3 logs "send_bye(): terminating non-confirmed dialogs not supported" for a
    # dialog dlg.list showed confirmed. kamtool always sends both BYEs.
    callee_bye_always: bool
    # permissions.trustedReload: the reference cfg loads only the address table
    # (load_backends 1, no trusted table), so Kamailio refuses it (its 5.6.3 would crash
    # reading a table it never opened); kamtool's proxy has the trusted table loaded.
    trusted_table_loaded: bool
    # answers of many MB (a 20,000-contact ul.dump is ~18 MB): Kamailio 5.6.3 delivers
    # them only over its FIFO (HTTP cuts them at its TCP write queue, the datagram
    # transport drops anything above ~128 KiB); kamtool's server delivers them whole on
    # every transport (datagram replies in consecutive chunks)
    cuts_big_answers: bool

    @property
    def sip_port(self) -> int:
        return self.server.sip_port

    @property
    def db_file(self) -> Path:
        assert self.server.db_file is not None
        return self.server.db_file

    def url(self, transport: str) -> str:
        """The ``--rpc`` URL of ``transport`` (http, fifo or dgram)."""
        return {
            "http": self.server.rpc_http_url,
            "fifo": f"fifo:{self.server.fifo_path}",
            "dgram": f"unix:{self.server.dgram_path}",
        }[transport]

    def rpc(self, method: str, *params: Any) -> Any:
        """``method(params)`` over HTTP with the harness's own client (not kamtool's)."""
        return self.server.rpc(method, *params)

    def log_text(self) -> str:
        return self.server.log_text()

    def write_rows(self, sql: str, *rows: tuple[Any, ...]) -> None:
        """Insert ``rows`` straight into the server's SQLite database (as an operator's
        provisioning would); the server sees them after the matching RPC reload."""
        db = sqlite3.connect(self.db_file, timeout=10)
        try:
            db.executemany(sql, rows)
            db.commit()
        finally:
            db.close()

    def sipsak_register(self, user: str, port: int) -> None:
        """Register ``user`` (password ``secret<user>``) with sipsak, contact on ``port``."""
        res = subprocess.run(
            ["sipsak", "-U", "-C", f"sip:{user}@127.0.0.1:{port}", "-s",
             f"sip:{user}@127.0.0.1:{self.sip_port}", "-a", f"secret{user}", "-x", "600"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr

    def seed_runtime_state(self) -> None:
        """127.0.0.1 trusted (address group 1, tag ``t``) and a ``kv`` row in the database.
        Only the address table is reloaded here; the tests reload ``kv`` themselves."""
        self.write_rows(
            "INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (?, ?, ?, ?, ?)",
            (1, "127.0.0.1", 32, 0, "t"),
        )
        self.write_rows(
            "INSERT INTO htable (key_name, key_type, value_type, key_value, expires)"
            " VALUES (?, ?, ?, ?, ?)",
            (KV_KEY, 0, 0, KV_VALUE, 0),  # key_type 0: plain key; value_type 0: a string
        )
        assert self.rpc("permissions.addressReload") == "Reload OK"


def require(name: str) -> None:
    """Skip (fail in CI) when the target's prerequisites are missing."""
    if name == "kamailio":
        require_kamailio()


@contextmanager
def running(
    name: str, base_dir: Path, *, seed: bool = True, sip_port: int | None = None, **kamailio: Any
) -> Iterator[Target]:
    """Start target ``name`` ("kamailio" or "kamtool") with the demo rows (``seed``), on
    ``sip_port`` if given (sipsak needs one below 10000); ``kamailio`` options
    (``pkg_mb``...) go to the Kamailio harness only."""
    require(name)
    if name == "kamailio":
        with Kamailio(base_dir, seed=seed, sip_port=sip_port, **kamailio) as k:
            yield Target(
                name,
                k,
                version="kamailio 5.6.3 (x86_64/linux)",
                callee_bye_always=False,
                trusted_table_loaded=False,
                cuts_big_answers=True,
            )
        return
    from kamtool.rpc.methods.core import version_string

    with KamtoolProxy(base_dir, seed=seed, sip_port=sip_port) as p:
        yield Target(
            name,
            p,
            version=version_string(),
            callee_bye_always=True,
            trusted_table_loaded=True,
            cuts_big_answers=False,
        )
