"""Chaos: ``kamtool serve`` killed with SIGKILL under REGISTER load while its MariaDB is cut
(issue #12, item 7), in each db_mode; the acknowledged registrations missing from
``location`` afterwards are counted.

* db_mode 1 and 3: none (a REGISTER the database did not take gets 503 / 500);
* db_mode 2: only what was acknowledged after the last write-back that reached the
  database (README, "When the database is slow or gone").

Kamailio 5.6 in db_mode 1 answers 200 while its inserts fail: a crash then loses them
(``[proxy] usrloc_ack_unstored = true`` does the same).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kamtool.sip.parser import parse_message
from tests.proxy.harness import low_free_port, wait_for
from tests.support.databases import database
from tests.support.dbrelay import DbRelay

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def server_db(tmp_path):
    """A throwaway MariaDB database with Kamailio's tables."""
    from kamtool.db import schema
    from kamtool.db.connect import connected
    from kamtool.db.ddl import create_tables

    with database("mysql", tmp_path) as url:
        with connected(url, auto_create=False) as db:
            create_tables(db, schema.GROUP_NAMES)
        yield url


def _stored(url: str) -> set[str]:
    from kamtool.db.connect import open_database
    from kamtool.proxy.usrloc import LocationStore

    db = open_database(url)
    try:
        store = LocationStore(db_mode=1, database=db)
        store.load()
        return {b.contact for b in store.contacts_of("1001")}
    finally:
        db.close()


class Load:
    """REGISTERs of new contacts of 1001, one after the other, from one UDP socket;
    ``answers`` is [(contact, status or None)] in order."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.answers: list[tuple[str, int | None]] = []
        self.go = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def one(self, n: int) -> int | None:
        local = self.sock.getsockname()[1]
        contact = f"sip:1001-{n}@127.0.0.1:{local}"
        lines = [
            f"REGISTER sip:127.0.0.1:{self.port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-kill-{n}",
            f"From: <sip:1001@127.0.0.1>;tag=t{n}", "To: <sip:1001@127.0.0.1>",
            f"Call-ID: kill-{n}@127.0.0.1", "CSeq: 1 REGISTER", f"Contact: <{contact}>",
            "Expires: 3600", "Max-Forwards: 70",
        ]  # fmt: skip
        self.sock.sendto(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode(),
                         ("127.0.0.1", self.port))  # fmt: skip
        status = None
        try:
            while status is None or status < 200:
                status = parse_message(self.sock.recv(65535)).status
        except OSError:
            status = None
        self.answers.append((contact, status))
        return status

    def _run(self) -> None:
        n = 1
        while not self.stop.is_set():
            if not self.go.wait(0.05):
                continue
            self.one(n)
            n += 1

    def acked(self, start: int = 0) -> list[str]:
        return [c for c, status in self.answers[start:] if status == 200]


@pytest.mark.parametrize(("db_mode", "lenient"), [(1, False), (2, False), (3, False), (1, True)],
                         ids=["db_mode1", "db_mode2", "db_mode3", "db_mode1-ack-unstored"])
def test_sigkill_with_the_database_cut_loses_no_acknowledged_registration(
    server_db, tmp_path: Path, db_mode: int, lenient: bool
):
    relay, url = DbRelay.for_url(server_db)
    port = low_free_port()
    cfg = tmp_path / "kamtool.toml"
    cfg.write_text(f'[proxy]\nlisten = ["udp:127.0.0.1:{port}"]\nrpc_listen = ""\n'
                   f"auth = false\ndb_mode = {db_mode}\ntimer_interval = 1\n"
                   f"usrloc_ack_unstored = {str(lenient).lower()}\n")  # fmt: skip
    with relay:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kamtool", "--db", url, "serve", "--config", str(cfg),
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        load = Load(port)
        try:
            assert wait_for(lambda: load.one(0) == 200, 20), "proxy did not start"
            load.thread.start()
            load.go.set()
            assert wait_for(lambda: len(load.acked()) >= 40, 30)
            # everything acknowledged so far reaches the table (db_mode 2: a write-back)
            load.go.clear()
            time.sleep(0.6)  # the request in flight ends (socket timeout 0.5 s)
            mark = len(load.answers)
            assert wait_for(lambda: set(load.acked()) <= _stored(server_db), 20)
            load.go.set()
            assert wait_for(lambda: len(load.answers) >= mark + 20, 20)
            relay.cut()
            cut = len(load.answers)
            assert wait_for(lambda: len(load.answers) >= cut + 20, 30)
            os.kill(proc.pid, signal.SIGKILL)  # no shutdown flush
            proc.wait(10)
        finally:
            load.stop.set()
            load.go.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if load.thread.is_alive():
                load.thread.join(5)
            load.sock.close()
    stored = _stored(server_db)
    lost = [c for c in load.acked() if c not in stored]
    during = [status for _, status in load.answers[cut + 2 :]]  # past the cut for sure
    if lenient:
        # Kamailio's way: 200s for contacts only in memory, gone with the process
        assert lost and set(lost) <= set(load.acked(cut))
    elif db_mode == 2:
        # the window: what came after the last write-back (all of the outage)
        assert set(lost) <= set(load.acked(mark))
        assert 200 in during
    else:
        assert lost == []
        expected = 503 if db_mode == 1 else 500
        assert expected in during and 200 not in during, during
