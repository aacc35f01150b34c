"""``kamtool serve --workers 2`` with a ws: listener: the kernel gives each WebSocket
connection to one worker, and ``ws.dump``, ``ws.ping`` and ``ws.close`` over the one
JSON-RPC server (worker 0's) cover the connections of both."""

from __future__ import annotations

import contextlib

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.proxy.harness import wait_for
from tests.proxy.test_workers import rows
from tests.support.kamtool_proxy import KamtoolProxy
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

ID_BLOCK = 1 << 24  # kamtool.proxy.workers.runtime.ID_BLOCK: worker 1's ids above it


def _conn_id(line: str) -> int:
    return int(line.split(":", 1)[0])


def _peer_port(line: str) -> int:
    """The client's port in a ``ws.dump`` line (``ID: ws:HOST:PORT -> ws:...``)."""
    return int(line.split(" -> ")[0].rsplit(":", 1)[1])


def test_ws_rpcs_cover_the_connections_of_every_worker(tmp_path):
    port = free_port()
    p = KamtoolProxy(
        tmp_path, extra_args=("--workers", "2", "--no-pike", "--listen", f"ws:127.0.0.1:{port}")
    ).start()
    clients: list = []
    stack = contextlib.ExitStack()
    try:
        assert wait_for(lambda: len(rows(p)) == 2, 20), p.log_text()[-3000:]
        # connections until both workers hold some (the kernel spreads them by address)
        ids: list[int] = []
        while len(clients) < 24 and not (
            any(i < ID_BLOCK for i in ids) and any(i > ID_BLOCK for i in ids)
        ):
            clients.append(
                stack.enter_context(connect(f"ws://127.0.0.1:{port}/", subprotocols=["sip"]))
            )
            n = len(clients)
            assert wait_for(lambda n=n: len(p.rpc("ws.dump")["connections"]) == n, 10)
            ids = [_conn_id(line) for line in p.rpc("ws.dump")["connections"]]
        assert any(i > ID_BLOCK for i in ids) and any(i < ID_BLOCK for i in ids), ids
        dump = p.rpc("ws.dump")
        assert dump["info"] == {"wscounter": len(clients), "truncated": "no"}
        assert ids == sorted(ids)  # id_hash: by id, as one worker lists them
        local = {c.local_address[1]: c for c in clients}
        assert sorted(_peer_port(line) for line in dump["connections"]) == sorted(local)
        assert len(p.rpc("ws.dump", "used_desc")["connections"]) == len(clients)
        with pytest.raises(RuntimeError, match="Bad display order"):
            p.rpc("ws.dump", "sideways")
        # a connection of worker 1, named to worker 0's RPC server
        theirs = next(line for line in dump["connections"] if _conn_id(line) > ID_BLOCK)
        cid = _conn_id(theirs)
        client = local[_peer_port(theirs)]
        # worker 0 does not know the id ("Unknown connection ID" there), worker 1 sends
        # (the client's library answers the Ping at once: no "awaiting Pong" to see)
        assert p.rpc("ws.ping", cid) == {} and p.rpc("ws.pong", cid) == {}
        p.rpc("ws.close", cid)
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)
        assert client.close_code == 1000
        assert wait_for(lambda: len(p.rpc("ws.dump")["connections"]) == len(clients) - 1, 10)
        for method in ("ws.close", "ws.ping", "ws.pong"):
            with pytest.raises(RuntimeError, match="Unknown connection ID"):
                p.rpc(method, 2 * ID_BLOCK + 7)
    finally:
        stack.close()
        p.stop()
