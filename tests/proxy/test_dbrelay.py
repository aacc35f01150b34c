"""The cuttable database relay (tests/support/dbrelay.py) leaves nothing behind:
closing it stops its accept thread and its pumps and frees its port."""

from __future__ import annotations

import socket

import pytest

from tests.support.databases import MYSQL_ADMIN
from tests.support.dbrelay import DbRelay
from tests.support.require import unavailable


def _mariadb_greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.recv(256)


def test_close_ends_every_thread_and_frees_the_port() -> None:
    relay = DbRelay(MYSQL_ADMIN["host"], MYSQL_ADMIN["port"])
    try:
        greeting = _mariadb_greeting(relay.port)
    except OSError as exc:
        relay.close()
        unavailable(f"MariaDB not reachable through the relay: {exc}")
    if not greeting:
        relay.close()
    assert greeting, "MariaDB's greeting did not come through the relay"
    held = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    try:
        assert held.recv(256), "no greeting through the relay"
        assert len(relay.threads) >= 2  # the accept thread and a pump
        relay.close()
        assert relay.threads == []
        assert held.recv(256) == b""  # the relayed connection was closed too
    finally:
        held.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()


def test_context_manager_closes() -> None:
    with DbRelay("127.0.0.1", MYSQL_ADMIN["port"]) as relay:
        assert relay.threads, "the accept thread runs while the relay is open"
    assert relay.threads == []
