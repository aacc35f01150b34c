"""``KSR.websocket``: Kamailio's websocket module functions for route scripts, over the
proxy's ws:/wss: connections (:class:`kamtool.proxy.ws.WsRegistry`).

The HTTP upgrade itself is the listener's (Kamailio does it in an ``xhttp`` event route
with ``handle_handshake()``; kamtool's ws: listeners answer it before any route runs),
so ``handle_handshake()`` only says whether the message came over a WebSocket. Return
codes are Kamailio's: 1 done, -1 not (no such connection, not a WebSocket).
"""

from __future__ import annotations

from typing import Any

from kamtool.proxy.ksr.context import state

__all__ = ["websocket_functions"]

NORMAL_CLOSURE = 1000


def _conn() -> Any:
    endpoint = state.ctx.endpoint
    return endpoint if getattr(endpoint, "proto", "") in ("ws", "wss") else None


def handle_handshake() -> int:
    """1 when the route's message came over an (already upgraded) WebSocket."""
    return 1 if _conn() is not None else -1


def close_reason(status: int = NORMAL_CLOSURE, reason: str = "Normal closure") -> int:
    """Close the WebSocket the route's message came over with ``status`` and ``reason``."""
    conn = _conn()
    if conn is None:
        return -1
    conn.close(int(status), str(reason))
    return 1


def close() -> int:
    """Close the message's WebSocket (1000, Normal closure)."""
    return close_reason()


def close_conid(status: int, reason: str, conid: int) -> int:
    """Close WebSocket connection ``conid`` (the id ``ws.dump`` shows)."""
    transports = getattr(state.ctx.parts, "transports", None)
    conn = transports.ws.by_id.get(int(conid)) if transports is not None else None
    if conn is None:
        return -1
    conn.close(int(status), str(reason))
    return 1


def websocket_functions() -> dict[str, Any]:
    return dict(handle_handshake=handle_handshake, close=close, close_reason=close_reason,
                close_conid=close_conid)  # fmt: skip
