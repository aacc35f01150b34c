"""``ws.dump``, ``ws.close``, ``ws.ping`` and ``ws.pong`` over the proxy's WebSocket
connections (:class:`kamtool.proxy.ws.WsRegistry`), answered as Kamailio's websocket
module answers them."""

from __future__ import annotations

import time
from typing import Any

from kamtool.proxy.ws import WsRegistry
from kamtool.rpc.methods import Param, Registry, RpcFault

__all__ = ["MAX_DUMP", "register"]

MAX_DUMP = 50  # Kamailio lists at most this many connections and says "truncated"


def register(registry: Registry, connections: WsRegistry) -> None:
    def dump(order: str = "id_hash") -> dict[str, Any]:
        try:
            conns = connections.connections(str(order).lower())
        except ValueError:
            raise RpcFault(400, "Bad display order parameter") from None  # Kamailio's words
        now = time.monotonic()
        lines = [c.dump_line(now) for c in conns[:MAX_DUMP]]
        return {
            "connections": lines,
            "info": {
                "wscounter": len(lines),
                "truncated": "yes" if len(conns) > MAX_DUMP else "no",
            },
        }

    def _conn(conn_id: int) -> Any:
        conn = connections.by_id.get(conn_id)
        if conn is None:
            raise RpcFault(500, "Unknown connection ID")
        return conn

    def close(conn_id: int) -> None:
        _conn(conn_id)
        connections.close(conn_id)

    def ping(conn_id: int) -> None:
        _conn(conn_id).ping(b"kamtool")

    def pong(conn_id: int) -> None:
        _conn(conn_id).pong(b"kamtool")

    cid = Param("id", "int", min=0, max=2**32 - 1)
    missing = "Invalid Parameters"
    registry.add(
        "ws.dump",
        dump,
        "ws.dump [id_hash|used_desc|used_asc]: the open WebSocket connections.",
        Param("order", required=False, default="id_hash"),
    )
    registry.add("ws.close", close, "ws.close ID: close a WebSocket connection (1000).", cid,
                 missing=missing)  # fmt: skip
    registry.add("ws.ping", ping, "ws.ping ID: send a Ping frame.", cid, missing=missing)
    registry.add("ws.pong", pong, "ws.pong ID: send a Pong frame.", cid, missing=missing)
