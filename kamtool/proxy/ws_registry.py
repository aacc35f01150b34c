"""The open WebSocket connections of a proxy (:class:`WsRegistry`) and the names of
Kamailio's ``websocket`` statistics they count."""

from __future__ import annotations

import itertools
from typing import Any

from wsproto.frame_protocol import CloseReason

Addr = tuple[str, int]


STAT_NAMES = (
    "ws_current_connections",
    "ws_max_concurrent_connections",
    "ws_successful_handshakes",
    "ws_failed_handshakes",
    "ws_local_closed_connections",
    "ws_remote_closed_connections",
    "ws_received_frames",
    "ws_transmitted_frames",
)


# Kamailio's websocket group also counts per sub-protocol (every kamtool connection is
# ``sip``; ``msrp`` is not offered) and ``ws_failed_connections`` (closed by us for a
# protocol error, an oversized message or a missing Pong)
KAMAILIO_STAT_NAMES = tuple(
    sorted(
        {*STAT_NAMES, "ws_failed_connections"}
        | {n.replace("ws_", f"ws_{sub}_", 1) for sub in ("sip", "msrp") for n in (
            "ws_current_connections", "ws_max_concurrent_connections",
            "ws_failed_connections", "ws_local_closed_connections",
            "ws_remote_closed_connections", "ws_received_frames",
            "ws_transmitted_frames", "ws_successful_handshakes")}
    )
)  # fmt: skip


class WsRegistry:
    """The open WebSocket connections of a proxy, by id and by peer address, and the
    counters of Kamailio's ``websocket`` statistics group (SIP frames only: each
    counts messages, as Kamailio's do)."""

    def __init__(self, id_base: int = 0) -> None:
        self._ids = itertools.count(id_base + 1)
        self.by_id: dict[int, Any] = {}  # kamtool.proxy.ws.WsConnection
        self.by_peer: dict[Addr, Any] = {}
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.failed = 0  # ws_failed_connections (kept apart: ``stats`` is the public eight)

    def count(self, name: str) -> None:
        self.stats[name] += 1

    def stat(self, name: str) -> int:
        """A counter of Kamailio's ``websocket`` group by its name (see
        :data:`KAMAILIO_STAT_NAMES`): ``ws_sip_*`` are the plain ones, ``ws_msrp_*`` 0."""
        if name.startswith("ws_msrp_"):
            return 0
        name = name.replace("ws_sip_", "ws_", 1)
        if name == "ws_failed_connections":
            return self.failed
        return self.stats.get(name, 0)

    def add(self, conn: Any) -> None:
        conn.id = next(self._ids)
        self.by_id[conn.id] = conn
        self.by_peer[conn.peer] = conn
        n = self.stats["ws_current_connections"] = len(self.by_id)
        if n > self.stats["ws_max_concurrent_connections"]:
            self.stats["ws_max_concurrent_connections"] = n

    def forget(self, conn: Any) -> None:
        if self.by_id.get(conn.id) is conn:
            del self.by_id[conn.id]
        if self.by_peer.get(conn.peer) is conn:
            del self.by_peer[conn.peer]
        self.stats["ws_current_connections"] = len(self.by_id)

    def connections(self, order: str = "id_hash") -> list[Any]:
        """Open connections by id (``id_hash``), least recently used first
        (``used_desc``: by "last used ... ago" going down, as Kamailio 5.6 orders it) or
        most recently used first (``used_asc``); ValueError for another order."""
        conns = sorted(self.by_id.values(), key=lambda c: c.id)
        if order == "used_desc":
            conns.sort(key=lambda c: c.last_active)
        elif order == "used_asc":
            conns.sort(key=lambda c: c.last_active, reverse=True)
        elif order != "id_hash":
            raise ValueError(f"bad display order {order!r}")
        return conns

    def dump(self) -> list[dict[str, Any]]:
        return [c.info() for c in self.connections()]

    def close(self, conn_id: int) -> bool:
        """Close connection ``conn_id`` (1000, as ``ws.close`` does); False when there
        is none."""
        conn = self.by_id.get(conn_id)
        if conn is None:
            return False
        conn.close(CloseReason.NORMAL_CLOSURE, "Normal closure")
        return True

    def ping_all(self) -> int:
        """Send every open connection a keepalive Ping; how many were sent."""
        return sum(conn.ping(b"kamtool") for conn in list(self.by_id.values()))

    def keepalive(self, now: float, idle: float) -> tuple[int, int]:
        """Ping connections idle for ``idle`` seconds; close those whose last Ping
        got no Pong (a browser tab gone without a close). ``(pinged, closed)``."""
        pinged = closed = 0
        for conn in list(self.by_id.values()):
            if now - conn.last_active < idle:
                continue
            if conn.awaiting_pong:
                self.failed += 1
                conn.close(CloseReason.GOING_AWAY, "no Pong")
                closed += 1
            elif conn.ping(b"kamtool"):
                conn.last_active = now  # the next check waits ``idle`` for the Pong
                pinged += 1
        return pinged, closed
